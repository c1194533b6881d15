"""Listener records -> OpenLineage RunEvents (as JSON-ready dicts).

One task try gives START (its running hook) and one of COMPLETE (success), FAIL (failed, also a
try that will be retried), ABORT (skipped; and from the scheduler's synthesized records:
upstream_failed, skipped by a trigger rule, removed, killed). One DAG run gives START and
COMPLETE/FAIL. Times are the real start/end times of the try or run. Events are returned as
plain dicts: that is what the spool stores and the transports send.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.serde import Serde

from otel_listener.events import AssetRef, DagRunEvent, Event, EventKind, TaskEvent
from otel_listener.lineage import facets, naming, runids

_TASK_STATE = {
    EventKind.TASK_RUNNING: RunState.START,
    EventKind.TASK_SUCCESS: RunState.COMPLETE,
    EventKind.TASK_FAILED: RunState.FAIL,
    EventKind.TASK_SKIPPED: RunState.ABORT,
    EventKind.TASK_SYNTHESIZED: RunState.ABORT,
}


def _time(value: datetime | None, observed_ns: int) -> str:
    if value is None:
        value = datetime.fromtimestamp((observed_ns or time.time_ns()) / 1e9, tz=timezone.utc)
    return facets.iso(value)


def _datasets(refs: tuple[AssetRef, ...], cls: type) -> list[Any]:
    seen: dict[tuple[str, str], Any] = {}
    for _name, uri in refs:
        namespace, name = naming.dataset_name(uri)
        seen.setdefault((namespace, name), cls(namespace=namespace, name=name))
    return list(seen.values())


def _facets(**named: Any) -> dict[str, Any]:
    return {key: value for key, value in named.items() if value is not None}


def _event(state: RunState, when: str, run_id: str, run_facets: dict, job: Job, inputs=(), outputs=()) -> dict:  # type: ignore[no-untyped-def]
    event = RunEvent(
        eventType=state,
        eventTime=when,
        run=Run(runId=run_id, facets=run_facets),
        job=job,
        inputs=list(inputs),
        outputs=list(outputs),
        producer=facets.PRODUCER,
    )
    return Serde.to_dict(event)


def task_run_event(event: TaskEvent, namespace: str) -> dict | None:
    """The RunEvent of one task-try record, or ``None`` for records that are not a try (manual changes)."""
    state = _TASK_STATE.get(event.kind)
    if state is None or event.process_role == "api-server":
        return None
    when = event.start_date if state is RunState.START else event.end_date
    failed = state is not RunState.COMPLETE and (event.error is not None or event.killed)
    run_facets = _facets(
        parent=facets.task_parent(event, namespace),
        nominalTime=facets.nominal_time(event.logical_date),
        processing_engine=facets.processing_engine(),
        errorMessage=facets.error_message(event.error) if failed else None,
        **{facets.FACET_KEY: facets.otel_for_task(event)},
    )
    job = Job(
        namespace=namespace,
        name=f"{event.run.dag_id}.{event.task_id}",
        facets=_facets(
            jobType=facets.job_type("TASK"), ownership=facets.ownership(event.owner), tags=facets.tags(event.dag_tags)
        ),
    )
    return _event(
        state,
        _time(when, event.observed_at_ns),
        runids.task_try_uuid(event.run, event.task_id, event.map_index, event.try_number),
        run_facets,
        job,
        _datasets(event.inlets, InputDataset),
        _datasets(event.outlets, OutputDataset),
    )


def dag_run_events(event: DagRunEvent, namespace: str) -> list[dict]:
    """START, or COMPLETE/FAIL of a DAG run (plus its START under ``dags test``, where no running hook fires)."""
    if event.kind == EventKind.DAG_RUN_RUNNING:
        states = [RunState.START]
    elif event.kind == EventKind.DAG_RUN_SUCCESS:
        states = [RunState.COMPLETE]
    elif event.kind == EventKind.DAG_RUN_FAILED:
        states = [RunState.FAIL]
    else:
        return []
    if event.kind != EventKind.DAG_RUN_RUNNING and event.process_role == "dags-test":
        states.insert(0, RunState.START)
    job = Job(
        namespace=namespace,
        name=event.run.dag_id,
        facets=_facets(
            jobType=facets.job_type("DAG"),
            ownership=facets.ownership(event.dag_owner),
            tags=facets.tags(event.dag_tags),
        ),
    )
    out = []
    for state in states:
        run_facets = _facets(
            parent=facets.dag_run_parent(event.lineage_parent),
            nominalTime=facets.nominal_time(event.logical_date),
            processing_engine=facets.processing_engine(),
            errorMessage=facets.error_message(None, event.msg or "DAG run failed") if state is RunState.FAIL else None,
            **{facets.FACET_KEY: facets.otel_for_dag_run(event)},
        )
        when = event.start_date if state is RunState.START else event.end_date
        out.append(
            _event(
                state,
                _time(when, event.observed_at_ns),
                runids.dag_run_uuid(event.run),
                run_facets,
                job,
                inputs=_datasets(event.consumed_assets, InputDataset),
            )
        )
    return out


def run_events(event: Event, namespace: str) -> list[dict]:
    """Every OpenLineage event one listener record stands for, in emission order."""
    if isinstance(event, TaskEvent):
        single = task_run_event(event, namespace)
        return [single] if single is not None else []
    if isinstance(event, DagRunEvent):
        out = dag_run_events(event, namespace)
        if event.kind != EventKind.DAG_RUN_RUNNING:
            # Tries the scheduler decided end before the run does.
            synthesized = [e for e in (task_run_event(t, namespace) for t in event.synthesized_tasks) if e]
            out = out[:-1] + synthesized + out[-1:]
        return out
    return []


def to_client_event(data: dict) -> RunEvent:
    """A stored event dict as an openlineage-python ``RunEvent`` (facets stay plain dicts)."""
    run, job = data["run"], data["job"]
    return RunEvent(
        eventType=RunState(data["eventType"]),
        eventTime=data["eventTime"],
        run=Run(runId=run["runId"], facets=run.get("facets") or {}),
        job=Job(namespace=job["namespace"], name=job["name"], facets=job.get("facets") or {}),
        inputs=[
            InputDataset(d["namespace"], d["name"], facets=d.get("facets") or {}) for d in data.get("inputs") or ()
        ],
        outputs=[
            OutputDataset(d["namespace"], d["name"], facets=d.get("facets") or {}) for d in data.get("outputs") or ()
        ],
        producer=data["producer"],
    )

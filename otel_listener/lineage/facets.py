"""The facets of our OpenLineage events, built with the openlineage-python facet classes.

Standard facets: parent (with root), errorMessage, nominalTime, processing_engine, jobType,
ownership, tags. One custom run facet, ``otelListener``: the OpenTelemetry trace and span id of
the same DAG run or task try plus its Airflow context; its JSON schema is
``schemas/OtelListenerRunFacet.json`` in this package (``_schemaURL`` points at it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import attr
from openlineage.client.facet_v2 import (
    error_message_run,
    job_type_job,
    nominal_time_run,
    ownership_job,
    parent_run,
    processing_engine_run,
    tags_job,
)
from openlineage.client.generated.base import RunFacet

from otel_listener import __version__, ids
from otel_listener.events import DagRunEvent, ErrorInfo, LineageParent, RunRef, TaskEvent
from otel_listener.lineage import runids

REPO_URL = "https://github.com/airflow-otel-listener/airflow-otel-listener"
PRODUCER = f"{REPO_URL}/tree/{__version__}"
SCHEMA_FILE = Path(__file__).with_name("schemas") / "OtelListenerRunFacet.json"
SCHEMA_URL = (
    "https://raw.githubusercontent.com/airflow-otel-listener/airflow-otel-listener/main/"
    "otel_listener/lineage/schemas/OtelListenerRunFacet.json#/$defs/OtelListenerRunFacet"
)
FACET_KEY = "otelListener"


@attr.define
class OtelListenerRunFacet(RunFacet):
    """Our custom run facet (see ``schemas/OtelListenerRunFacet.json``)."""

    traceId: str
    spanId: str
    traceparent: str
    airflow: dict[str, Any]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def iso(value: datetime) -> str:
    return value.isoformat()


def airflow_version() -> str:
    try:
        from airflow import __version__ as version

        return str(version)
    except Exception:
        return "unknown"


def processing_engine() -> processing_engine_run.ProcessingEngineRunFacet:
    return processing_engine_run.ProcessingEngineRunFacet(
        version=airflow_version(), name="Airflow", openlineageAdapterVersion=__version__, producer=PRODUCER
    )


def job_type(kind: str) -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType=kind, producer=PRODUCER)


def ownership(owner: str | None) -> ownership_job.OwnershipJobFacet | None:
    names = [o.strip() for o in (owner or "").split(",") if o.strip()]
    if not names:
        return None
    return ownership_job.OwnershipJobFacet(
        owners=[ownership_job.Owner(name=name) for name in dict.fromkeys(names)], producer=PRODUCER
    )


def tags(dag_tags: tuple[str, ...]) -> tags_job.TagsJobFacet | None:
    if not dag_tags:
        return None
    return tags_job.TagsJobFacet(
        tags=[tags_job.TagsJobFacetFields(key=t, value=t, source="AIRFLOW") for t in dag_tags], producer=PRODUCER
    )


def nominal_time(logical_date: datetime | None) -> nominal_time_run.NominalTimeRunFacet | None:
    if logical_date is None:
        return None
    return nominal_time_run.NominalTimeRunFacet(nominalStartTime=iso(logical_date), producer=PRODUCER)


def error_message(
    error: ErrorInfo | None, fallback: str | None = None
) -> error_message_run.ErrorMessageRunFacet | None:
    from otel_listener.masking import redact_text

    if error is None and not fallback:
        return None
    message = f"{error.type}: {error.message}" if error is not None else str(fallback)
    stack = error.stacktrace if error is not None else ""
    return error_message_run.ErrorMessageRunFacet(
        message=redact_text(message),
        programmingLanguage="python",
        stackTrace=redact_text(stack) or None,
        producer=PRODUCER,
    )


def _root_of(parent: LineageParent | None) -> parent_run.Root | None:
    if parent is None:
        return None
    if parent.root_run_id and parent.root_namespace and parent.root_name:
        namespace, name, run_id = parent.root_namespace, parent.root_name, parent.root_run_id
    else:
        namespace, name, run_id = parent.namespace, parent.name, parent.run_id
    return parent_run.Root(run=parent_run.RootRun(runId=run_id), job=parent_run.RootJob(namespace=namespace, name=name))


def dag_run_parent(parent: LineageParent | None) -> parent_run.ParentRunFacet | None:
    """A DAG run's parent: only an external one passed in its conf."""
    if parent is None:
        return None
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent.run_id),
        job=parent_run.Job(namespace=parent.namespace, name=parent.name),
        root=_root_of(parent),
        producer=PRODUCER,
    )


def task_parent(event: TaskEvent, namespace: str) -> parent_run.ParentRunFacet:
    """A task try's parent is its DAG run; the root is the DAG run's root (external) or the DAG run."""
    dag_run_id = runids.dag_run_uuid(event.run)
    root = _root_of(event.lineage_parent) or parent_run.Root(
        run=parent_run.RootRun(runId=dag_run_id), job=parent_run.RootJob(namespace=namespace, name=event.run.dag_id)
    )
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=dag_run_id),
        job=parent_run.Job(namespace=namespace, name=event.run.dag_id),
        root=root,
        producer=PRODUCER,
    )


def _run_context(run: RunRef, run_type: str | None) -> dict[str, Any]:
    return {"dagId": run.dag_id, "runId": run.run_id, "clearNumber": run.clear_number, "runType": run_type}


def otel_for_task(event: TaskEvent) -> OtelListenerRunFacet:
    trace_id = ids.trace_id_for(event.run)
    span_id = ids.task_span_id(event.run, event.task_id, event.map_index, event.try_number)
    context = {
        **_run_context(event.run, event.run_type),
        "taskId": event.task_id,
        "mapIndex": event.map_index,
        "tryNumber": event.try_number,
        "maxTries": event.max_tries,
        "operator": event.operator,
        "pool": event.pool,
        "queue": event.queue,
        "state": event.state,
        "hostname": event.hostname,
        "synthesized": event.kind.value == "task_synthesized",
        "killed": event.killed or None,
    }
    return _otel(trace_id, span_id, context)


def otel_for_dag_run(event: DagRunEvent) -> OtelListenerRunFacet:
    context = {**_run_context(event.run, event.run_type), "state": event.state}
    return _otel(ids.trace_id_for(event.run), ids.dag_run_span_id(event.run), context)


def _otel(trace_id: int, span_id: int, context: dict[str, Any]) -> OtelListenerRunFacet:
    return OtelListenerRunFacet(
        traceId=f"{trace_id:032x}",
        spanId=f"{span_id:016x}",
        traceparent=ids.format_traceparent(trace_id, span_id),
        airflow={k: v for k, v in context.items() if v is not None},
        producer=PRODUCER,
    )

"""Turn Airflow's hook arguments into immutable event records.

Hooks receive two shapes of task instance: the SDK's ``RuntimeTaskInstance`` in task processes
and the ORM ``TaskInstance`` in the scheduler/api-server; DAG runs are ORM rows bound to the
caller's session. Everything here reads attributes defensively (any of them may be missing,
``None`` or odd) and copies them into :mod:`otel_listener.events` records; nothing here does
I/O except :func:`dag_run_end_event`, which reads the run's task instances through the run's own
session (never committing: the scheduler's transaction must stay untouched).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from otel_listener.events import (
    AssetEventRecord,
    DagRunEvent,
    ErrorInfo,
    EventKind,
    ImportErrorEvent,
    LifecycleEvent,
    LineageParent,
    Outcome,
    RunRef,
    TaskEvent,
    TaskInstanceSnapshot,
    UpstreamRun,
)

MAX_ID_CHARS = 1000
MAX_MESSAGE_CHARS = 4096

# Task states that the scheduler decides without a task process ever reporting them.
SCHEDULER_DECIDED_STATES = {"upstream_failed", "removed", "skipped"}
UNFINISHED_STATES = {None, "none", "scheduled", "queued", "running", "restarting", "up_for_reschedule", "deferred"}


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """``getattr`` that also survives properties that raise (detached ORM rows, lazy loads)."""
    try:
        value = getattr(obj, name, default)
    except Exception:
        return default
    return default if value is None else value


def text(value: Any, limit: int = MAX_ID_CHARS) -> str | None:
    """A bounded, printable string for ``value`` (enums give their value), or ``None``."""
    if value is None:
        return None
    try:
        value = getattr(value, "value", value)
        result = value if isinstance(value, str) else str(value)
    except Exception:
        return "<unprintable>"
    if not result.isascii():  # lone surrogates cannot be encoded: one would fail a whole OTLP batch
        result = result.encode("utf-8", "replace").decode("utf-8")
    return result if len(result) <= limit else result[: limit - 3] + "..."


def integer(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def aware(value: Any) -> datetime | None:
    """Datetimes are kept timezone-aware (naive ones are taken as UTC); anything else is dropped."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def error_info(error: Any, max_stacktrace: int) -> ErrorInfo | None:
    """Describe an exception (or Airflow's string error) without keeping the object alive."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        message = text(_safe_str(error), MAX_MESSAGE_CHARS) or ""
        stack = _stacktrace(error, max_stacktrace) if max_stacktrace > 0 else ""
        return ErrorInfo(type=_qualname(type(error)), message=message, stacktrace=stack)
    return ErrorInfo(type="str", message=text(error, MAX_MESSAGE_CHARS) or "")


def _stacktrace(error: BaseException, limit: int) -> str:
    """Frames plus the exception line, within ``limit`` chars; keeps the innermost frames."""
    try:
        frames = traceback.format_tb(error.__traceback__)
        last = "".join(traceback.format_exception_only(type(error), error))
    except Exception:
        return ""
    last = last if len(last) <= limit // 4 else last[: limit // 4] + "...\n"
    budget = limit - len(last)
    kept: list[str] = []
    for frame in reversed(frames):
        if len(frame) > budget:
            kept.append("  ...\n")
            break
        kept.append(frame)
        budget -= len(frame)
    return "Traceback (most recent call last):\n" + "".join(reversed(kept)) + last


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:
        try:
            return repr(error)
        except Exception:
            return f"<{type(error).__name__} with unprintable message>"


def _qualname(cls: type) -> str:
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "Exception")
    return name if module in ("builtins", "") else f"{module}.{name}"


def traceparent_from_conf(conf: Any) -> str | None:
    """An upstream W3C traceparent passed in the run's conf (``{"traceparent": ...}``)."""
    if isinstance(conf, dict):
        value = conf.get("traceparent")
        return value if isinstance(value, str) and len(value) < 128 else None
    return None


def lineage_parent_from_conf(conf: Any) -> LineageParent | None:
    """OpenLineage parent/root run info in the run's conf, as the official provider reads it:
    ``{"openlineage": {"parentRunId", "parentJobNamespace", "parentJobName", "rootParentRunId", ...}}``."""
    info = conf.get("openlineage") if isinstance(conf, dict) else None
    if not isinstance(info, dict):
        return None
    values = {k: text(info.get(k)) for k in info if isinstance(k, str)}
    run_id, namespace, name = values.get("parentRunId"), values.get("parentJobNamespace"), values.get("parentJobName")
    if not (run_id and namespace and name):
        return None
    return LineageParent(
        namespace=namespace,
        name=name,
        run_id=run_id,
        root_namespace=values.get("rootParentJobNamespace"),
        root_name=values.get("rootParentJobName"),
        root_run_id=values.get("rootParentRunId"),
    )


def asset_refs(objects: Any) -> tuple[tuple[str, str], ...]:
    """``(name, uri)`` of the assets among a task's inlets/outlets (aliases and other objects are skipped)."""
    out = []
    try:
        items = list(objects or ())[:200]
    except Exception:
        return ()
    for item in items:
        uri = text(attr(item, "uri"), 2048)
        if uri:
            out.append((text(attr(item, "name")) or uri, uri))
    return tuple(out)


def dag_tags(dag: Any) -> tuple[str, ...]:
    try:
        return tuple(sorted(t for t in (text(tag) for tag in (attr(dag, "tags") or ())) if t))[:50]
    except Exception:
        return ()


def run_ref(dag_id: Any, run_id: Any, dag_run: Any) -> RunRef:
    return RunRef(
        dag_id=text(dag_id) or "<unknown>",
        run_id=text(run_id) or "<unknown>",
        clear_number=integer(attr(dag_run, "clear_number", 0), 0),
        traceparent=traceparent_from_conf(attr(dag_run, "conf")),
    )


def _task_dag_run(ti: Any) -> Any:
    """The DAG run of a task instance, for either shape, without building a template context."""
    context = attr(ti, "_ti_context_from_server")
    dag_run = attr(context, "dag_run")
    if dag_run is not None:
        return dag_run
    return attr(ti, "dag_run")


def task_outcome(kind: EventKind, state: str | None) -> Outcome:
    if kind == EventKind.TASK_SUCCESS:
        return Outcome.SUCCESS
    if kind == EventKind.TASK_SKIPPED:
        return Outcome.SKIPPED
    if kind == EventKind.TASK_RUNNING:
        return Outcome.RUNNING
    if state == "up_for_retry":
        return Outcome.RETRY
    if state in ("upstream_failed", "removed", "skipped", "success"):
        return Outcome(state)
    return Outcome.FAILED


def task_event(
    kind: EventKind,
    ti: Any,
    *,
    previous_state: Any = None,
    error: Any = None,
    role: str,
    max_stacktrace: int = 8192,
    state_override: str | None = None,
) -> TaskEvent:
    """Build a :class:`TaskEvent` from either task-instance shape."""
    task = attr(ti, "task")
    dag_run = _task_dag_run(ti)
    state = state_override or text(attr(ti, "state"))
    if kind == EventKind.TASK_FAILED and state not in ("up_for_retry", "failed"):
        # The SDK may call the hook before the state attribute is updated.
        state = "failed"
    operator = text(attr(ti, "operator")) or text(attr(task, "task_type")) or text(attr(task, "operator_name"))
    end_date = aware(attr(ti, "end_date"))
    if end_date is None and kind in (EventKind.TASK_SUCCESS, EventKind.TASK_FAILED, EventKind.TASK_SKIPPED):
        end_date = datetime.now(timezone.utc)
    return TaskEvent(
        kind=kind,
        run=run_ref(attr(ti, "dag_id"), attr(ti, "run_id"), dag_run),
        task_id=text(attr(ti, "task_id")) or "<unknown>",
        try_number=integer(attr(ti, "try_number", 0), 0),
        map_index=integer(attr(ti, "map_index", -1), -1),
        max_tries=integer(attr(ti, "max_tries"), 0) if attr(ti, "max_tries") is not None else None,
        state=state,
        previous_state=text(previous_state),
        outcome=task_outcome(kind, state),
        start_date=aware(attr(ti, "start_date")),
        end_date=end_date,
        queued_date=aware(attr(ti, "queued_dttm")),
        operator=operator,
        pool=text(attr(ti, "pool")) or text(attr(task, "pool")),
        queue=text(attr(ti, "queue")) or text(attr(task, "queue")),
        hostname=text(attr(ti, "hostname")),
        rendered_map_index=text(attr(ti, "rendered_map_index")),
        log_url=text(attr(ti, "log_url"), 2048),
        owner=text(attr(task, "owner")),
        run_type=text(attr(dag_run, "run_type")),
        logical_date=aware(attr(dag_run, "logical_date")),
        error=error_info(error, max_stacktrace) if kind == EventKind.TASK_FAILED else None,
        process_role=role,
        observed_at_ns=time.time_ns(),
        inlets=asset_refs(attr(task, "inlets")),
        outlets=asset_refs(attr(task, "outlets")),
        dag_tags=dag_tags(attr(task, "dag")),
        lineage_parent=lineage_parent_from_conf(attr(dag_run, "conf")),
    )


def dag_run_event(kind: EventKind, dag_run: Any, msg: Any, *, role: str) -> DagRunEvent:
    """A DAG-run event without the task-instance scan (used for ``running``)."""
    state = text(attr(dag_run, "state"))
    outcome = {EventKind.DAG_RUN_SUCCESS: Outcome.SUCCESS, EventKind.DAG_RUN_FAILED: Outcome.FAILED}.get(kind)
    return DagRunEvent(
        kind=kind,
        run=run_ref(attr(dag_run, "dag_id"), attr(dag_run, "run_id"), dag_run),
        state=state,
        outcome=outcome,
        run_type=text(attr(dag_run, "run_type")),
        start_date=aware(attr(dag_run, "start_date")),
        end_date=aware(attr(dag_run, "end_date")),
        queued_at=aware(attr(dag_run, "queued_at")),
        logical_date=aware(attr(dag_run, "logical_date")),
        triggering_user=text(attr(dag_run, "triggering_user_name")),
        msg=text(msg, MAX_MESSAGE_CHARS),
        process_role=role,
        observed_at_ns=time.time_ns(),
        dag_tags=dag_tags(attr(dag_run, "dag")),
        dag_owner=text(attr(attr(dag_run, "dag"), "owner")),
        lineage_parent=lineage_parent_from_conf(attr(dag_run, "conf")),
    )


def _run_session(dag_run: Any) -> Any:
    """The session the run is bound to; reading through it never triggers a commit."""
    from sqlalchemy import inspect

    return inspect(dag_run).session


def _run_task_instances(dag_run: Any) -> list[Any]:
    """All task instances of the run, read through the run's session, or a private read-only one.

    The scheduler's run is bound to its session: reading through it joins the scheduler's
    transaction without committing it. A detached run (``airflow dags test``) gets a
    short-lived session that is closed, never committed.
    """
    from airflow.models.taskinstance import TaskInstance

    session = _run_session(dag_run)
    private = session is None
    if private:
        from airflow import settings

        session = settings.NonScopedSession()
    try:
        query = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return list(query)
    finally:
        if private:
            session.close()


def _upstream_runs(dag_run: Any) -> tuple[UpstreamRun, ...]:
    """Producing runs of the asset events that triggered this run (for span links)."""
    events = attr(dag_run, "consumed_asset_events") or ()
    seen: dict[tuple[str, str], UpstreamRun] = {}
    session = None
    for event in list(events)[:100]:
        dag_id, run_id = text(attr(event, "source_dag_id")), text(attr(event, "source_run_id"))
        if not dag_id or not run_id or (dag_id, run_id) in seen:
            continue
        clear_number, conf = 0, None
        try:
            from airflow.models.dagrun import DagRun

            session = session or _run_session(dag_run)
            source = (
                session.query(DagRun.clear_number, DagRun.conf)
                .filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
                .one_or_none()
            )
            if source is not None:
                clear_number, conf = integer(source[0], 0), source[1]
        except Exception:
            pass
        seen[(dag_id, run_id)] = UpstreamRun(RunRef(dag_id, run_id, clear_number, traceparent_from_conf(conf)))
    return tuple(seen.values())


def consumed_assets(dag_run: Any) -> tuple[tuple[str, str], ...]:
    """Assets whose events triggered this run: the inputs of an asset-triggered run."""
    try:
        events = list(attr(dag_run, "consumed_asset_events") or ())[:100]
    except Exception:
        return ()
    return tuple(dict.fromkeys(asset_refs(attr(event, "asset") for event in events)))


def synthesized_tasks(task_instances: Iterable[Any], run_end: datetime | None, role: str) -> tuple[TaskEvent, ...]:
    """Task ends no task process reported: states the scheduler decided, never-run leftovers."""
    out = []
    for ti in task_instances:
        state = text(attr(ti, "state"))
        never_ran = not attr(ti, "hostname")
        if (
            state in ("upstream_failed", "removed")
            or (state == "skipped" and never_ran)
            or (state in UNFINISHED_STATES and never_ran)
        ):
            event = task_event(EventKind.TASK_SYNTHESIZED, ti, role=role, state_override=state or "none")
            if event.end_date is None:
                event = _with_dates(event, run_end)
            out.append(event)
    return tuple(out)


def _with_dates(event: TaskEvent, run_end: datetime | None) -> TaskEvent:
    from dataclasses import replace

    end = run_end or datetime.now(timezone.utc)
    return replace(event, start_date=event.start_date or end, end_date=end)


def scheduling_delays(task_instances: Iterable[Any]) -> tuple[tuple[str, float], ...]:
    """Queued -> started delay of each task instance that ran (last try)."""
    delays = []
    for ti in task_instances:
        queued, started = aware(attr(ti, "queued_dttm")), aware(attr(ti, "start_date"))
        if queued is not None and started is not None and attr(ti, "hostname"):
            delays.append((text(attr(ti, "task_id")) or "<unknown>", max(0.0, (started - queued).total_seconds())))
    return tuple(delays)


def snapshots(task_instances: Iterable[Any]) -> tuple[TaskInstanceSnapshot, ...]:
    return tuple(
        TaskInstanceSnapshot(
            task_id=text(attr(ti, "task_id")) or "<unknown>",
            map_index=integer(attr(ti, "map_index", -1), -1),
            try_number=integer(attr(ti, "try_number", 0), 0),
            state=text(attr(ti, "state")),
            start_date=aware(attr(ti, "start_date")),
            end_date=aware(attr(ti, "end_date")),
        )
        for ti in task_instances
    )


def dag_run_end_event(kind: EventKind, dag_run: Any, msg: Any, *, role: str, synthesize: bool) -> DagRunEvent:
    """A DAG-run end event, with the task tries the DAG-run hook must account for."""
    from dataclasses import replace

    event = dag_run_event(kind, dag_run, msg, role=role)
    end = event.end_date or datetime.now(timezone.utc)
    tis = _run_task_instances(dag_run)
    return replace(
        event,
        end_date=end,
        upstream_runs=_upstream_runs(dag_run),
        consumed_assets=consumed_assets(dag_run),
        synthesized_tasks=synthesized_tasks(tis, end, role) if synthesize else (),
        task_scheduling_delays=scheduling_delays(tis),
        task_instances=snapshots(tis),
    )


def asset_event(kind: EventKind, obj: Any, *, role: str) -> AssetEventRecord:
    """Assets, aliases and asset events all reduce to name/uri plus the producing task."""
    asset = attr(obj, "asset", obj)
    extra = attr(obj, "extra") or {}
    return AssetEventRecord(
        kind=kind,
        name=text(attr(asset, "name")),
        uri=text(attr(asset, "uri"), 2048),
        group=text(attr(asset, "group")),
        source_dag_id=text(attr(obj, "source_dag_id")),
        source_task_id=text(attr(obj, "source_task_id")),
        source_run_id=text(attr(obj, "source_run_id")),
        source_map_index=integer(attr(obj, "source_map_index"), -1)
        if attr(obj, "source_map_index") is not None
        else None,
        extra={text(k) or "": text(v, 256) or "" for k, v in list(extra.items())[:32]}
        if isinstance(extra, dict)
        else {},
        process_role=role,
        observed_at_ns=time.time_ns(),
    )


def import_error_event(kind: EventKind, filename: Any, stacktrace: Any, *, role: str) -> ImportErrorEvent:
    return ImportErrorEvent(
        kind=kind,
        filename=text(filename, 2048) or "<unknown>",
        stacktrace=text(stacktrace, 16384) or "",
        process_role=role,
        observed_at_ns=time.time_ns(),
    )


def lifecycle_event(kind: EventKind, component: Any, *, role: str) -> LifecycleEvent:
    return LifecycleEvent(
        kind=kind, component=component_name(component), process_role=role, observed_at_ns=time.time_ns()
    )


def component_name(component: Any) -> str:
    """``SchedulerJob``, ``TaskRunnerMarker``, ... for whatever Airflow passes as component."""
    return text(attr(component, "job_type")) or type(component).__name__


_ROLE_BY_COMPONENT = {
    "SchedulerJob": "scheduler",
    "DagProcessorJob": "dag-processor",
    "TriggererJob": "triggerer",
    "TaskRunnerMarker": "task",
}


def role_of_component(component: Any) -> str:
    """The role for ``on_starting``; a ``Job`` has no ``job_type`` yet then, so ask the command line."""
    name = component_name(component)
    if name in _ROLE_BY_COMPONENT:
        return _ROLE_BY_COMPONENT[name]
    from_argv = role_from_argv()
    return from_argv if from_argv != "unknown" else name.lower()


def role_from_argv(argv: list[str] | None = None) -> str:
    """Best guess of the process role from the command line, for hooks before ``on_starting``."""
    args = sys.argv if argv is None else argv
    joined = " ".join(args[1:4])
    if "dags test" in joined or "tasks test" in joined:
        return "dags-test"
    for role in ("scheduler", "api-server", "dag-processor", "triggerer", "celery"):
        if role in args[1:3]:
            return role
    return "unknown"

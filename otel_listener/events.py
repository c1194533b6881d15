"""Immutable event records: the only thing hooks hand to the dispatcher.

Hooks run on the task's path, so they copy the few fields every sink needs out of Airflow's
objects (which may be ORM rows bound to a session, or SDK objects that change after the hook)
into frozen records. Sinks then work on these records in a background thread and never touch
Airflow objects themselves.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class EventKind(str, enum.Enum):
    """What happened; one value per listener hook (plus synthesized task ends)."""

    TASK_RUNNING = "task_running"
    TASK_SUCCESS = "task_success"
    TASK_FAILED = "task_failed"
    TASK_SKIPPED = "task_skipped"
    TASK_SYNTHESIZED = "task_synthesized"
    DAG_RUN_RUNNING = "dag_run_running"
    DAG_RUN_SUCCESS = "dag_run_success"
    DAG_RUN_FAILED = "dag_run_failed"
    ASSET_CREATED = "asset_created"
    ASSET_ALIAS_CREATED = "asset_alias_created"
    ASSET_CHANGED = "asset_changed"
    ASSET_EVENT_EMITTED = "asset_event_emitted"
    IMPORT_ERROR_NEW = "import_error_new"
    IMPORT_ERROR_EXISTING = "import_error_existing"
    COMPONENT_STARTING = "component_starting"
    COMPONENT_STOPPING = "component_stopping"


class Outcome(str, enum.Enum):
    """How a task try or DAG run ended, as used in metric labels and span attributes."""

    SUCCESS = "success"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"
    REMOVED = "removed"
    RUNNING = "running"


TASK_END_KINDS = frozenset(
    {EventKind.TASK_SUCCESS, EventKind.TASK_FAILED, EventKind.TASK_SKIPPED, EventKind.TASK_SYNTHESIZED}
)
DAG_RUN_END_KINDS = frozenset({EventKind.DAG_RUN_SUCCESS, EventKind.DAG_RUN_FAILED})


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure, reduced to strings that are safe to keep after the exception is gone."""

    type: str
    message: str
    stacktrace: str = ""


@dataclass(frozen=True, slots=True)
class RunRef:
    """Identifies one DAG-run attempt: what trace ids are derived from."""

    dag_id: str
    run_id: str
    clear_number: int = 0
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class LineageParent:
    """An OpenLineage parent (and root) run passed in a DAG run's conf (``{"openlineage": {...}}``)."""

    namespace: str
    name: str
    run_id: str
    root_namespace: str | None = None
    root_name: str | None = None
    root_run_id: str | None = None


AssetRef = tuple[str, str]
"""``(name, uri)`` of an Airflow asset."""


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """A task try changed state (or its end was reconstructed from the run)."""

    kind: EventKind
    run: RunRef
    task_id: str
    try_number: int
    map_index: int = -1
    max_tries: int | None = None
    state: str | None = None
    previous_state: str | None = None
    outcome: Outcome | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    queued_date: datetime | None = None
    operator: str | None = None
    pool: str | None = None
    queue: str | None = None
    hostname: str | None = None
    rendered_map_index: str | None = None
    log_url: str | None = None
    owner: str | None = None
    run_type: str | None = None
    logical_date: datetime | None = None
    error: ErrorInfo | None = None
    killed: bool = False
    process_role: str = "unknown"
    observed_at_ns: int = 0
    inlets: tuple[AssetRef, ...] = ()
    outlets: tuple[AssetRef, ...] = ()
    dag_tags: tuple[str, ...] = ()
    lineage_parent: LineageParent | None = None


@dataclass(frozen=True, slots=True)
class UpstreamRun:
    """A DAG run whose asset event triggered this one (for span links)."""

    run: RunRef


@dataclass(frozen=True, slots=True)
class TaskInstanceSnapshot:
    """The last try of one task instance as the DAG-run end saw it."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None


@dataclass(frozen=True, slots=True)
class DagRunEvent:
    """A DAG run changed state; at the end it carries the task tries it must account for."""

    kind: EventKind
    run: RunRef
    state: str | None = None
    outcome: Outcome | None = None
    run_type: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    queued_at: datetime | None = None
    logical_date: datetime | None = None
    triggering_user: str | None = None
    msg: str | None = None
    upstream_runs: tuple[UpstreamRun, ...] = ()
    synthesized_tasks: tuple[TaskEvent, ...] = ()
    task_scheduling_delays: tuple[tuple[str, float], ...] = ()
    task_instances: tuple[TaskInstanceSnapshot, ...] = ()
    process_role: str = "unknown"
    observed_at_ns: int = 0
    consumed_assets: tuple[AssetRef, ...] = ()
    dag_tags: tuple[str, ...] = ()
    dag_owner: str | None = None
    lineage_parent: LineageParent | None = None


@dataclass(frozen=True, slots=True)
class AssetEventRecord:
    """An asset was created/changed or an asset event was emitted."""

    kind: EventKind
    name: str | None = None
    uri: str | None = None
    group: str | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    process_role: str = "unknown"
    observed_at_ns: int = 0


@dataclass(frozen=True, slots=True)
class ImportErrorEvent:
    """A DAG file failed to import (new or still failing)."""

    kind: EventKind
    filename: str
    stacktrace: str
    process_role: str = "unknown"
    observed_at_ns: int = 0


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """An Airflow component (scheduler, task runner, ...) starts or stops."""

    kind: EventKind
    component: str
    process_role: str = "unknown"
    observed_at_ns: int = 0


Event = TaskEvent | DagRunEvent | AssetEventRecord | ImportErrorEvent | LifecycleEvent

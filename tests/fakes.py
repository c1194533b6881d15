"""Typed fakes of the objects Airflow passes to listener hooks.

``RuntimeTaskInstance`` mirrors the task SDK's worker-side object (attributes checked against
Airflow 3.3: no ``operator``/``pool``/``dag_run``; the run comes from the server context).
``OrmTaskInstance`` and ``OrmDagRun`` mirror the ORM rows the scheduler and api-server pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)


@dataclass
class FakeTask:
    task_type: str = "PythonOperator"
    operator_name: str = "PythonOperator"
    pool: str = "default_pool"
    queue: str = "default"
    owner: str = "data-platform"
    retries: int = 0


@dataclass
class SdkDagRun:
    dag_id: str = "etl"
    run_id: str = "manual__2026-11-24T10:00:00+00:00"
    clear_number: int = 0
    conf: dict[str, Any] | None = None
    run_type: str = "manual"
    logical_date: datetime | None = T0
    start_date: datetime | None = T0


@dataclass
class ServerContext:
    dag_run: SdkDagRun


@dataclass
class RuntimeTaskInstance:
    dag_id: str = "etl"
    task_id: str = "extract"
    run_id: str = "manual__2026-11-24T10:00:00+00:00"
    try_number: int = 1
    max_tries: int = 0
    map_index: int = -1
    start_date: datetime | None = T0 + timedelta(seconds=5)
    end_date: datetime | None = T0 + timedelta(seconds=9)
    state: str | None = "success"
    hostname: str | None = "worker-1"
    queue: str | None = "default"
    rendered_map_index: str | None = None
    log_url: str | None = "http://airflow/dags/etl/runs/r/tasks/extract?try_number=1"
    task: FakeTask = field(default_factory=FakeTask)
    _ti_context_from_server: ServerContext | None = None

    def __post_init__(self) -> None:
        if self._ti_context_from_server is None:
            self._ti_context_from_server = ServerContext(SdkDagRun(dag_id=self.dag_id, run_id=self.run_id))


@dataclass
class OrmDagRun:
    dag_id: str = "etl"
    run_id: str = "manual__2026-11-24T10:00:00+00:00"
    state: str = "success"
    run_type: str = "manual"
    start_date: datetime | None = T0
    end_date: datetime | None = T0 + timedelta(seconds=30)
    queued_at: datetime | None = T0 - timedelta(seconds=2)
    logical_date: datetime | None = T0
    conf: dict[str, Any] | None = None
    clear_number: int = 0
    triggering_user_name: str | None = "alice"
    consumed_asset_events: list[Any] = field(default_factory=list)


@dataclass
class OrmTaskInstance:
    dag_id: str = "etl"
    task_id: str = "load"
    run_id: str = "manual__2026-11-24T10:00:00+00:00"
    try_number: int = 0
    max_tries: int = 0
    map_index: int = -1
    start_date: datetime | None = None
    end_date: datetime | None = None
    queued_dttm: datetime | None = None
    state: str | None = "upstream_failed"
    hostname: str | None = ""
    operator: str | None = "BashOperator"
    pool: str = "default_pool"
    queue: str | None = "default"
    rendered_map_index: str | None = None
    dag_run: OrmDagRun | None = None
    task: Any = None


class RecordingSink:
    """A sink that keeps what it is given (the dispatcher's Sink protocol)."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.flushes = 0

    def handle(self, event: Any) -> None:
        self.events.append(event)

    def flush(self, timeout: float) -> None:
        self.flushes += 1

    def tick(self) -> None:
        pass

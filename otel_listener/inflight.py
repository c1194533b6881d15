"""Markers for task tries that are running, to find the ones that were killed.

A task process killed by SIGKILL or the OOM killer fires no hook, so its try would leave no
span. The ``inflight`` sink (on its own thread, never on the task's path) writes a tiny marker
when a try starts and removes it when the try ends; whatever marker is left when the DAG run
ends belongs to a try that died. The scheduler finds them at the DAG-run end. Markers live on
the local disk (``$AIRFLOW_HOME/otel_listener/inflight`` by default), so this works where
the scheduler sees the workers' disk: the LocalExecutor, or a shared volume. A try killed
within milliseconds of starting may die before its marker is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from otel_listener.events import TASK_END_KINDS, DagRunEvent, ErrorInfo, Event, EventKind, Outcome, RunRef, TaskEvent

KILLED = ErrorInfo(
    type="TaskKilled",
    message="the task process ended without reporting its end (killed by a signal or the OOM killer?)",
)

KEPT_FIELDS = (
    "operator",
    "pool",
    "queue",
    "hostname",
    "log_url",
    "owner",
    "run_type",
    "max_tries",
    "rendered_map_index",
)


def default_dir() -> Path:
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    return Path(home) / "otel_listener" / "inflight"


def run_dir(base: Path, run: RunRef) -> Path:
    key = hashlib.sha256(f"{run.dag_id}/{run.run_id}/{run.clear_number}".encode("utf-8", "surrogatepass")).hexdigest()
    return base / key[:32]


def marker_path(base: Path, event: TaskEvent) -> Path:
    task = hashlib.sha256(event.task_id.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return run_dir(base, event.run) / f"{task}.{event.map_index}.{event.try_number}.json"


class InflightSink:
    """Writes a marker at a try's start, removes it at the try's end (task processes only)."""

    name = "inflight"

    def __init__(self, base: Path) -> None:
        self.base = base

    def handle(self, event: Event) -> None:
        if not isinstance(event, TaskEvent) or event.process_role not in ("task", "dags-test"):
            return
        path = marker_path(self.base, event)
        if event.kind == EventKind.TASK_RUNNING:
            path.parent.mkdir(parents=True, exist_ok=True)
            record = {
                "task_id": event.task_id,
                "map_index": event.map_index,
                "try_number": event.try_number,
                "start_date": event.start_date.isoformat() if event.start_date else None,
                **{f: getattr(event, f) for f in KEPT_FIELDS},
            }
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record))
            os.replace(tmp, path)  # atomic: a reader never sees half a marker
        elif event.kind in TASK_END_KINDS:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # the run's last running try on this host leaves no folder behind
            except OSError:
                pass

    def flush(self, timeout: float) -> None:
        pass

    def tick(self) -> None:
        pass


def killed_tries(base: Path, run: DagRunEvent) -> tuple[TaskEvent, ...]:
    """Tries of this run whose marker is still there: they started and never ended.

    Called a little after the DAG run ended (:func:`check_later`): a try's state is reported
    before its end hooks run, so right at the run's end a healthy try may still hold its
    marker. The run's marker folder is removed afterwards.
    """
    folder = run_dir(base, run.run)
    try:
        files = sorted(folder.glob("*.json"))
    except OSError:
        return ()
    current = {(ti.task_id, ti.map_index): ti for ti in run.task_instances}
    run_end = run.end_date or datetime.now(timezone.utc)
    out = []
    for file in files:
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        ti = current.get((record.get("task_id"), record.get("map_index", -1)))
        end = run_end
        if ti is not None and ti.try_number == record.get("try_number"):
            if ti.state in ("success", "skipped"):
                continue  # it ended normally; only its end hook was late
            end = ti.end_date or run_end
        start = record.get("start_date")
        out.append(
            TaskEvent(
                kind=EventKind.TASK_SYNTHESIZED,
                run=run.run,
                task_id=record["task_id"],
                try_number=int(record.get("try_number", 0)),
                map_index=int(record.get("map_index", -1)),
                state="failed",
                outcome=Outcome.FAILED,
                start_date=datetime.fromisoformat(start) if start else end,
                end_date=end,
                error=KILLED,
                killed=True,
                process_role=run.process_role,
                observed_at_ns=time.time_ns(),
                **{f: record.get(f) for f in KEPT_FIELDS},
            )
        )
    shutil.rmtree(folder, ignore_errors=True)
    return tuple(out)


def check_later(base: Path, run: DagRunEvent, delay: float, submit: Callable[[Event], None]) -> None:
    """After ``delay`` seconds, hand a synthesized span for each killed try of ``run`` to ``submit``.

    Runs on a daemon timer thread: the scheduler's loop never waits for it.
    """

    def check() -> None:
        try:
            for event in killed_tries(base, run):
                submit(event)
        except Exception:
            pass  # a broken state folder must never reach Airflow; markers simply stay

    timer = threading.Timer(delay, check)
    timer.daemon = True
    timer.name = "otel-listener-inflight-check"
    timer.start()

"""Preview alert rules: feed events through the real engine and renderers, send nothing.

Used by the example DAGs and handy in a notebook or a test: the rules document is loaded in
dry-run mode (every destination renders exactly what Slack/PagerDuty/email would receive, no
credentials needed), the state lives in a temporary SQLite file and time is a manual clock, so
windows, SLA medians, aggregation and quiet hours can be shown in a second.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from otel_listener.alerting import destinations, rules
from otel_listener.alerting.engine import Engine, Notification
from otel_listener.alerting.state import SQLiteStore
from otel_listener.events import ErrorInfo, Event, EventKind, Outcome, RunRef, TaskEvent

_KIND = {"success": EventKind.TASK_SUCCESS, "skipped": EventKind.TASK_SKIPPED}


def task_end(
    dag_id: str,
    task_id: str,
    outcome: str,
    *,
    run_id: str,
    seconds: float = 1.0,
    try_number: int = 1,
    error: str = "",
    tags: tuple[str, ...] = (),
    owner: str = "airflow",
    operator: str = "PythonOperator",
    start: datetime | None = None,
    log_url: str = "",
) -> TaskEvent:
    """A task try's end as the listener records it (for previews and tests)."""
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    return TaskEvent(
        kind=_KIND.get(outcome, EventKind.TASK_FAILED),
        run=RunRef(dag_id, run_id),
        task_id=task_id,
        try_number=try_number,
        outcome=Outcome(outcome),
        start_date=start,
        end_date=start + timedelta(seconds=seconds),
        operator=operator,
        owner=owner,
        dag_tags=tags,
        error=ErrorInfo(error.partition(":")[0] or "Exception", error.partition(":")[2].strip() or error)
        if error
        else None,
        log_url=log_url,
    )


class Preview:
    def __init__(self, doc: dict, start: float = 1_767_225_600.0, folder: str | Path | None = None) -> None:
        self.now = start
        self.ruleset = rules.parse(doc, {"dry_run": "true"})
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="otel-alert-preview-")
        base = Path(folder) if folder else Path(self._tmp.name)  # type: ignore[union-attr]
        self.suppressed: Counter[str] = Counter()
        self.engine = Engine(
            self.ruleset, SQLiteStore(base / "state.sqlite"), lambda: self.now, lambda r: self.suppressed.update([r])
        )
        self.destinations = {
            n: destinations.build(d, self.ruleset.jaeger_url) for n, d in self.ruleset.destinations.items()
        }
        self.messages: list[dict[str, Any]] = []

    def advance(self, seconds: float) -> list[dict]:
        """Move the clock; returns the messages of batches that became due."""
        self.now += seconds
        return self._render(self.engine.due())

    def feed(self, event: Event) -> list[dict]:
        """Evaluate one event; returns the messages it causes right away."""
        return self._render(self.engine.evaluate(event))

    def _render(self, notes: list[Notification]) -> list[dict]:
        out = []
        for note in notes:
            dest = self.destinations[note.destination]
            for rendered in dest.render(list(note.alerts)):
                dest.send(rendered, 0.0)  # logs "otel_listener alert (dry run) ..."
                out.append({"destination": note.destination, "alerts": len(note.alerts), **rendered})
        self.messages += out
        return out

    def by_destination(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for message in self.messages:
            found.setdefault(message["destination"], []).append(message["payload"])
        return found

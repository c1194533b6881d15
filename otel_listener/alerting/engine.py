"""Rule evaluation: conditions, windows, dedup, aggregation, rate limits and quiet hours.

:meth:`Engine.evaluate` turns one listener event into the notifications to send now; alerts
of rules with an aggregation window (or held back by quiet hours) wait in the shared store as
a batch and come out of :meth:`Engine.due` as ONE notification once the batch is due, in
whichever process asks first. Everything time-related reads the injected ``clock`` (epoch
seconds), so tests drive windows and quiet hours without sleeping.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from otel_listener.alerting.rules import QuietHours, Rule, RuleSet, Subject
from otel_listener.alerting.state import StateStore
from otel_listener.events import DAG_RUN_END_KINDS, TASK_END_KINDS, DagRunEvent, Event, TaskEvent

FAILURE_CONDITIONS = ("final_failure", "failures_in_window", "sla", "any")


@dataclass(frozen=True)
class Notification:
    """One message for one destination, carrying one alert or an aggregated batch."""

    destination: str
    alerts: tuple[dict, ...]


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def task_subject(event: TaskEvent, tags: tuple[str, ...] = ()) -> Subject:
    from otel_listener import ids
    from otel_listener.masking import redact_text

    run = event.run
    return Subject(
        dag_id=run.dag_id,
        task_id=event.task_id,
        run_id=run.run_id,
        outcome=event.outcome.value if event.outcome else "",
        try_number=event.try_number,
        map_index=event.map_index,
        tags=event.dag_tags or tags,
        owner=event.owner or "",
        operator=event.operator or "",
        duration=_duration(event.start_date, event.end_date),
        error_type=event.error.type if event.error else "",
        error_message=redact_text(event.error.message) if event.error else "",
        killed=event.killed,
        log_url=redact_text(event.log_url or ""),
        trace_id=f"{ids.trace_id_for(run):032x}",
        logical_date=_iso(event.logical_date),
        event_key=f"task/{run.dag_id}/{run.run_id}/{run.clear_number}/{event.task_id}/{event.map_index}/"
        f"{event.try_number}/{event.outcome.value if event.outcome else ''}",
    )


def dag_run_subject(event: DagRunEvent) -> Subject:
    from otel_listener import ids
    from otel_listener.masking import redact_text

    run = event.run
    return Subject(
        dag_id=run.dag_id,
        task_id="",
        run_id=run.run_id,
        outcome=event.outcome.value if event.outcome else "",
        tags=event.dag_tags,
        owner=event.dag_owner or "",
        duration=_duration(event.start_date, event.end_date),
        error_message=redact_text(event.msg or ""),
        trace_id=f"{ids.trace_id_for(run):032x}",
        logical_date=_iso(event.logical_date),
        event_key=f"dag_run/{run.dag_id}/{run.run_id}/{run.clear_number}/{event.outcome.value}",
    )


def subjects_of(event: Event) -> list[Subject]:
    """The task tries and DAG runs an event ends (none for starts, assets, import errors)."""
    if isinstance(event, TaskEvent):
        if event.kind in TASK_END_KINDS and event.outcome is not None and event.outcome.value != "running":
            return [task_subject(event)]
        return []
    if isinstance(event, DagRunEvent) and event.kind in DAG_RUN_END_KINDS and event.outcome is not None:
        found = [dag_run_subject(event)]
        found += [task_subject(t, event.dag_tags) for t in event.synthesized_tasks if t.outcome is not None]
        return found
    return []


def quiet_until(quiet: QuietHours | None, now: float) -> float | None:
    """Epoch seconds at which the quiet period containing ``now`` ends, or ``None`` outside it."""
    if quiet is None:
        return None
    local = datetime.fromtimestamp(now, ZoneInfo(quiet.timezone))
    t = local.time().replace(second=0, microsecond=0)
    if quiet.start <= quiet.end:
        active = quiet.start <= t < quiet.end
    else:  # over midnight, e.g. 22:00-07:00
        active = t >= quiet.start or t < quiet.end
    if not active:
        return None
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.timestamp()


class Engine:
    def __init__(
        self,
        ruleset: RuleSet,
        store: StateStore,
        clock: Callable[[], float] = time.time,
        on_suppressed: Callable[[str], None] | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.store = store
        self.clock = clock
        self.on_suppressed = on_suppressed or (lambda reason: None)

    # -- evaluation --------------------------------------------------------------------------
    def evaluate(self, event: Event) -> list[Notification]:
        out: list[Notification] = []
        for subject in subjects_of(event):
            out += self.evaluate_subject(subject)
        return out

    def evaluate_subject(self, s: Subject) -> list[Notification]:
        now = self.clock()
        if s.event_key and not self.store.first_seen(s.event_key, now):
            return []  # another process (or an earlier hook) already evaluated this end
        previous = self.store.recent_durations(s.key, 50)
        was_failing = False
        if s.outcome in ("failed", "retry"):
            self.store.record_failure(s.key, now, retry=s.outcome == "retry")
        if s.outcome == "failed":
            self.store.set_failing(s.key, True, now)
        elif s.outcome == "success":
            was_failing = self.store.set_failing(s.key, False, now)
            if s.duration is not None:
                self.store.record_duration(s.key, now, s.duration)
        out: list[Notification] = []
        for rule in self.ruleset.rules:
            if not rule.match.matches(s):
                continue
            fired = self._condition(rule, s, now, previous, was_failing)
            if fired is None:
                continue
            kind, detail = fired
            dedup = rule.dedup_seconds or (
                rule.condition.window_seconds if rule.condition.type == "failures_in_window" else 0
            )
            if dedup and not self.store.claim(f"{rule.name}/{s.key}/{kind}", now, dedup):
                self.on_suppressed("alert_dedup")
                continue
            alert = {
                "rule": rule.name,
                "condition": rule.condition.type,
                "kind": kind,
                "severity": "info" if kind == "resolve" else rule.severity,
                "channel": rule.channel,
                "detail": detail,
                "dedup_key": f"airflow/{s.key}",
                "at": now,
                "subject": asdict(s),
            }
            out += self._route(rule, alert, now)
        return out

    def _condition(
        self, rule: Rule, s: Subject, now: float, previous: list[float], was_failing: bool
    ) -> tuple[str, str] | None:
        c = rule.condition
        if c.type == "final_failure":
            return ("trigger", "failed for good (no retries left)") if s.outcome == "failed" else None
        if c.type == "failures_in_window":
            counted = ("failed", "retry") if c.count_retries else ("failed",)
            if s.outcome not in counted:
                return None
            n = self.store.failures_since(s.key, now - c.window_seconds, c.count_retries)
            if n < c.threshold:
                return None
            return "trigger", f"{n} failures within {_seconds(c.window_seconds)}"
        if c.type == "sla":
            if s.duration is None:
                return None
            if c.max_seconds is not None and s.duration > c.max_seconds:
                return "trigger", f"SLA breach: took {_seconds(s.duration)}, limit {_seconds(c.max_seconds)}"
            if c.median_factor is not None and len(previous) >= c.min_samples:
                median = statistics.median(previous)
                if s.duration > c.median_factor * median:
                    return (
                        "trigger",
                        f"SLA breach: took {_seconds(s.duration)}, {s.duration / median:.1f}x the median "
                        f"{_seconds(median)} of the last {len(previous)} runs (limit {c.median_factor:g}x)",
                    )
            return None
        if c.type == "recovery":
            return (
                ("resolve", "recovered: first success after failures")
                if was_failing and s.outcome == "success"
                else None
            )
        return "trigger", f"ended {s.outcome}"

    def _route(self, rule: Rule, alert: dict, now: float) -> list[Notification]:
        out = []
        for name in rule.destinations:
            dest = self.ruleset.destinations[name]
            if dest.incidents:
                key = f"{name}/{alert['dedup_key']}"
                if alert["kind"] == "trigger" and not self.store.open_incident(key, now):
                    self.on_suppressed("alert_incident_open")
                    continue
                if alert["kind"] == "resolve" and not self.store.close_incident(key):
                    continue
            quiet = rule.quiet_hours or dest.quiet_hours
            held = quiet_until(quiet, now)
            if quiet is not None and alert["severity"] in quiet.allow_severities:
                held = None
            if rule.aggregate_seconds > 0 or held is not None:
                due = max(now + rule.aggregate_seconds, held or 0.0)
                self.store.add_to_batch(name, f"{rule.name}/{alert['kind']}", due, alert)
                continue
            note = self._emit(name, [alert], now)
            if note is not None:
                out.append(note)
        return out

    def _emit(self, name: str, alerts: list[dict], now: float) -> Notification | None:
        limit = self.ruleset.destinations[name].rate_limit
        if limit is not None and not self.store.take_rate_slot(name, now, limit.count, limit.per_seconds):
            self.on_suppressed(f"alert_rate_limited:{name}")
            return None
        return Notification(name, tuple(alerts))

    def due(self) -> list[Notification]:
        """Batches whose window (or quiet period) is over, each as one notification."""
        now = self.clock()
        out = []
        for name, _group, alerts in self.store.take_due_batches(now):
            if name not in self.ruleset.destinations:
                continue
            note = self._emit(name, alerts, now)
            if note is not None:
                out.append(note)
        return out


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}min"
    return f"{value / 3600:.1f}h"

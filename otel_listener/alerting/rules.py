"""The alert rules file: a validated, immutable model and the matching of events against it.

The file is YAML (or the same structure as a dict)::

    destinations:            # name -> how to deliver
      slack-data: {type: slack, conn_id: slack_data, rate_limit: {count: 20, per_seconds: 60}}
      pagerduty: {type: pagerduty, conn_id: pagerduty_default}
    rules:                   # each event is checked against every rule
      - name: billing-failures
        match: {dag_id: "billing_*", tags: [critical], outcome: [failed]}
        condition: {type: final_failure}
        destinations: [slack-data, pagerduty]
        aggregate_seconds: 60

Bad files raise :class:`RulesError` naming the offending entry; the sink logs it once and
disables alerting in that process (never the listener).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path
from typing import Any

CONDITIONS = ("final_failure", "failures_in_window", "sla", "recovery", "any")
SEVERITIES = ("critical", "error", "warning", "info")
DESTINATION_TYPES = ("slack", "pagerduty", "email", "log")
OUTCOMES = ("success", "retry", "failed", "skipped", "upstream_failed", "removed")


class RulesError(ValueError):
    """The rules file is invalid; the message says where."""


@dataclass(frozen=True)
class Subject:
    """What a rule looks at: one task try's end, or a DAG run's end (``task_id`` empty)."""

    dag_id: str
    task_id: str
    run_id: str
    outcome: str
    try_number: int = 0
    map_index: int = -1
    tags: tuple[str, ...] = ()
    owner: str = ""
    operator: str = ""
    duration: float | None = None
    error_type: str = ""
    error_message: str = ""
    killed: bool = False
    log_url: str = ""
    trace_id: str = ""
    logical_date: str = ""
    event_key: str = ""

    @property
    def key(self) -> str:
        """The dag/task this subject is about (failure windows, medians, incidents)."""
        return f"{self.dag_id}/{self.task_id}" if self.task_id else self.dag_id


@dataclass(frozen=True)
class Match:
    dag_id: tuple[str, ...] = ()
    task_id: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()
    operator: tuple[str, ...] = ()
    outcome: tuple[str, ...] = ()
    scope: str = "task"  # task | dag_run
    min_duration: float | None = None
    max_duration: float | None = None

    def matches(self, s: Subject) -> bool:
        if (self.scope == "task") != bool(s.task_id):
            return False
        if not _globs(self.dag_id, s.dag_id) or (s.task_id and not _globs(self.task_id, s.task_id)):
            return False
        if self.tags and not set(self.tags) & set(s.tags):
            return False
        if not _globs(self.owner, s.owner) or not _globs(self.operator, s.operator):
            return False
        if self.outcome and s.outcome not in self.outcome:
            return False
        if self.min_duration is not None and (s.duration is None or s.duration < self.min_duration):
            return False
        return not (self.max_duration is not None and (s.duration is None or s.duration > self.max_duration))


def _globs(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value or "", p) for p in patterns)


@dataclass(frozen=True)
class Condition:
    type: str = "final_failure"
    threshold: int = 3
    window_seconds: float = 3600.0
    count_retries: bool = True
    max_seconds: float | None = None
    median_factor: float | None = None
    min_samples: int = 5


@dataclass(frozen=True)
class QuietHours:
    start: dtime
    end: dtime
    timezone: str = "UTC"
    allow_severities: tuple[str, ...] = ("critical",)


@dataclass(frozen=True)
class RateLimit:
    count: int
    per_seconds: float


@dataclass(frozen=True)
class Destination:
    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    quiet_hours: QuietHours | None = None

    @property
    def incidents(self) -> bool:
        """Destinations with incidents (PagerDuty) trigger once per dedup key and resolve it."""
        return self.type == "pagerduty" or self.options.get("renders") == "pagerduty"  # dry run acts the same


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    condition: Condition
    destinations: tuple[str, ...]
    severity: str = "error"
    aggregate_seconds: float = 0.0
    dedup_seconds: float = 0.0
    channel: str = ""
    quiet_hours: QuietHours | None = None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    destinations: Mapping[str, Destination] = field(default_factory=dict)
    jaeger_url: str = ""


# -- loading -------------------------------------------------------------------------------------


def load_file(path: str | Path, overrides: Mapping[str, str] | None = None) -> RuleSet:
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"rules file {path} is not valid YAML: {exc}") from None
    return parse(doc or {}, overrides)


def parse(doc: Any, overrides: Mapping[str, str] | None = None) -> RuleSet:
    """Validate a rules document. ``overrides``: ``dry_run``, ``quiet_hours``, ``jaeger_url``."""
    overrides = overrides or {}
    doc = _mapping(doc, "rules file")
    _known(doc, {"destinations", "rules", "defaults"}, "rules file")
    defaults = _mapping(doc.get("defaults") or {}, "defaults")
    _known(defaults, {"jaeger_url", "quiet_hours", "severity"}, "defaults")
    default_quiet = _quiet(overrides.get("quiet_hours") or defaults.get("quiet_hours"), "defaults.quiet_hours")
    dry_run = str(overrides.get("dry_run", "")).lower() in ("1", "true", "yes", "on")
    destinations = {}
    for name, raw in _mapping(doc.get("destinations") or {}, "destinations").items():
        destinations[str(name)] = _destination(str(name), raw, dry_run)
    rules = []
    names = set()
    for i, raw in enumerate(doc.get("rules") or []):
        rule = _rule(raw, i, defaults, default_quiet)
        if rule.name in names:
            raise RulesError(f"rules[{i}]: duplicate rule name {rule.name!r}")
        names.add(rule.name)
        for dest in rule.destinations:
            if dest not in destinations:
                raise RulesError(f"rule {rule.name!r}: unknown destination {dest!r}")
        rules.append(rule)
    jaeger = str(overrides.get("jaeger_url") or defaults.get("jaeger_url") or "").rstrip("/")
    return RuleSet(tuple(rules), destinations, jaeger)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RulesError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _known(value: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RulesError(f"{where}: expected a string or a list of strings")


def _number(value: Any, where: str, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise RulesError(f"{where}: expected a number >= {low}")
    return float(value)


def _clock(value: Any, where: str) -> dtime:
    try:
        hours, minutes = str(value).split(":")
        return dtime(int(hours), int(minutes))
    except ValueError:
        raise RulesError(f"{where}: expected HH:MM, got {value!r}") from None


def _quiet(raw: Any, where: str) -> QuietHours | None:
    if raw in (None, "", "off"):
        return None
    if isinstance(raw, str):  # "22:00-07:00" (env override form)
        start, _, end = raw.partition("-")
        raw = {"start": start, "end": end}
    raw = _mapping(raw, where)
    _known(raw, {"start", "end", "timezone", "allow_severities"}, where)
    tz = str(raw.get("timezone", "UTC"))
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:
        raise RulesError(f"{where}.timezone: unknown time zone {tz!r}") from None
    allow = _strings(raw.get("allow_severities", ["critical"]), f"{where}.allow_severities")
    return QuietHours(_clock(raw.get("start"), f"{where}.start"), _clock(raw.get("end"), f"{where}.end"), tz, allow)


def _destination(name: str, raw: Any, dry_run: bool) -> Destination:
    where = f"destinations.{name}"
    raw = dict(_mapping(raw, where))
    kind = raw.pop("type", None)
    if kind not in DESTINATION_TYPES:
        raise RulesError(f"{where}.type: expected one of {', '.join(DESTINATION_TYPES)}")
    rate = raw.pop("rate_limit", None)
    rate_limit = None
    if rate is not None:
        rate = _mapping(rate, f"{where}.rate_limit")
        count = _number(rate.get("count"), f"{where}.rate_limit.count", 1)
        rate_limit = RateLimit(int(count), _number(rate.get("per_seconds", 60), f"{where}.rate_limit.per_seconds", 1))
    quiet = _quiet(raw.pop("quiet_hours", None), f"{where}.quiet_hours")
    allowed = {
        "slack": {"conn_id", "url_env", "channel", "username", "icon_emoji"},
        "pagerduty": {"conn_id", "routing_key_env", "url", "source"},
        "email": {"conn_id", "to", "from", "subject_prefix"},
        "log": {"file", "renders"},
    }[kind]
    _known(raw, allowed, where)
    if kind == "email" and not _strings(raw.get("to"), f"{where}.to"):
        raise RulesError(f"{where}.to: at least one recipient")
    if dry_run:
        raw = {**raw, "renders": kind} if kind != "log" else raw
        kind = "log"
    return Destination(name, kind, raw, rate_limit, quiet)


def _rule(raw: Any, index: int, defaults: Mapping[str, Any], default_quiet: QuietHours | None) -> Rule:
    where = f"rules[{index}]"
    raw = _mapping(raw, where)
    _known(
        raw,
        {
            "name",
            "match",
            "condition",
            "destinations",
            "severity",
            "aggregate_seconds",
            "dedup_seconds",
            "channel",
            "quiet_hours",
        },
        where,
    )
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise RulesError(f"{where}.name: required")
    where = f"rule {name!r}"
    m = _mapping(raw.get("match") or {}, f"{where}.match")
    _known(
        m,
        {"dag_id", "task_id", "tags", "owner", "operator", "outcome", "scope", "min_duration", "max_duration"},
        f"{where}.match",
    )
    outcomes = _strings(m.get("outcome"), f"{where}.match.outcome")
    for o in outcomes:
        if o not in OUTCOMES:
            raise RulesError(f"{where}.match.outcome: {o!r} is not one of {', '.join(OUTCOMES)}")
    scope = m.get("scope", "task")
    if scope not in ("task", "dag_run"):
        raise RulesError(f"{where}.match.scope: expected task or dag_run")
    match = Match(
        _strings(m.get("dag_id"), f"{where}.match.dag_id"),
        _strings(m.get("task_id"), f"{where}.match.task_id"),
        _strings(m.get("tags"), f"{where}.match.tags"),
        _strings(m.get("owner"), f"{where}.match.owner"),
        _strings(m.get("operator"), f"{where}.match.operator"),
        outcomes,
        scope,
        None if m.get("min_duration") is None else _number(m["min_duration"], f"{where}.match.min_duration"),
        None if m.get("max_duration") is None else _number(m["max_duration"], f"{where}.match.max_duration"),
    )
    c = raw.get("condition") or {"type": "final_failure"}
    if isinstance(c, str):
        c = {"type": c}
    c = _mapping(c, f"{where}.condition")
    _known(
        c,
        {"type", "threshold", "window_seconds", "count_retries", "max_seconds", "median_factor", "min_samples"},
        f"{where}.condition",
    )
    if c.get("type") not in CONDITIONS:
        raise RulesError(f"{where}.condition.type: expected one of {', '.join(CONDITIONS)}")
    cond = Condition(
        c["type"],
        int(_number(c.get("threshold", 3), f"{where}.condition.threshold", 1)),
        _number(c.get("window_seconds", 3600), f"{where}.condition.window_seconds", 1),
        bool(c.get("count_retries", True)),
        None if c.get("max_seconds") is None else _number(c["max_seconds"], f"{where}.condition.max_seconds"),
        None if c.get("median_factor") is None else _number(c["median_factor"], f"{where}.condition.median_factor", 1),
        int(_number(c.get("min_samples", 5), f"{where}.condition.min_samples", 1)),
    )
    if cond.type == "sla" and cond.max_seconds is None and cond.median_factor is None:
        raise RulesError(f"{where}.condition: sla needs max_seconds and/or median_factor")
    destinations = _strings(raw.get("destinations"), f"{where}.destinations")
    if not destinations:
        raise RulesError(f"{where}.destinations: at least one")
    severity = raw.get("severity", defaults.get("severity", "error"))
    if severity not in SEVERITIES:
        raise RulesError(f"{where}.severity: expected one of {', '.join(SEVERITIES)}")
    quiet = _quiet(raw["quiet_hours"], f"{where}.quiet_hours") if "quiet_hours" in raw else default_quiet
    return Rule(
        name,
        match,
        cond,
        destinations,
        severity,
        _number(raw.get("aggregate_seconds", 0), f"{where}.aggregate_seconds"),
        _number(raw.get("dedup_seconds", 0), f"{where}.dedup_seconds"),
        str(raw.get("channel", "")),
        quiet,
    )

"""The one place where the listener's configuration is read and validated.

Values come from ``AIRFLOW__OTEL_LISTENER__<KEY>`` environment variables or the
``[otel_listener]`` section of ``airflow.cfg`` (environment wins, as everywhere in Airflow).
Exporter settings are the standard ``OTEL_*`` variables, read by the OpenTelemetry SDK itself.
A bad value never stops Airflow: it is reported in one log line and replaced by a safe value.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("otel_listener")

SECTION = "otel_listener"

_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n", ""}


@dataclass(frozen=True)
class Settings:
    """Effective configuration of the listener in this process."""

    enabled: bool = True
    traces_enabled: bool = True
    metrics_enabled: bool = True
    flush_timeout: float = 0.5
    queue_size: int = 10_000
    metric_export_interval: float = 15.0
    include_dags: tuple[str, ...] = ()
    exclude_dags: tuple[str, ...] = ()
    synthesize_task_spans: bool = True
    max_stacktrace_chars: int = 8192
    state_dir: str = ""
    lineage_enabled: str = "auto"
    lineage_namespace: str = "airflow"
    lineage_transport: str = "openlineage"
    lineage_spool_max_mb: int = 256
    lineage_with_provider: bool = False
    alerting_enabled: str = "auto"
    alert_rules_file: str = ""
    alert_dry_run: bool = False
    alert_quiet_hours: str = ""
    alert_jaeger_url: str = ""
    alert_send_timeout: float = 10.0
    alert_dead_letter_after: float = 3600.0
    alert_spool_max_mb: int = 64
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    problems: tuple[str, ...] = field(default=(), compare=False)

    def dag_selected(self, dag_id: str) -> bool:
        """Whether telemetry for ``dag_id`` passes the include/exclude glob filters."""
        if self.include_dags and not any(fnmatch.fnmatchcase(dag_id, p) for p in self.include_dags):
            return False
        return not any(fnmatch.fnmatchcase(dag_id, p) for p in self.exclude_dags)


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a number between {low} and {high}")
        return value

    return parse


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"expected an integer between {low} and {high}")
        return value

    return parse


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def _non_empty(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("expected a non-empty value")
    return value


def _globs(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


# key -> (parser, description); defaults live on Settings.
OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "enabled": (_parse_bool, "Master switch: false makes every hook a no-op."),
    "traces_enabled": (_parse_bool, "Export task-try and DAG-run spans."),
    "metrics_enabled": (_parse_bool, "Export task/DAG-run metrics and the listener's health metrics."),
    "flush_timeout": (
        _bounded_float(0.0, 60.0),
        "Seconds a task process waits at its end for telemetry to be exported (deadline, not delay).",
    ),
    "queue_size": (_bounded_int(16, 10_000_000), "Events buffered per sink before new ones are dropped."),
    "metric_export_interval": (
        _bounded_float(1.0, 3600.0),
        "Seconds between exports of metrics and buffered spans in long-lived processes (scheduler, api-server).",
    ),
    "include_dags": (_globs, "Comma-separated dag_id globs to observe (empty: all)."),
    "exclude_dags": (_globs, "Comma-separated dag_id globs never observed."),
    "synthesize_task_spans": (
        _parse_bool,
        "At DAG-run end, make spans for task instances the scheduler decided (upstream_failed, ...).",
    ),
    "max_stacktrace_chars": (_bounded_int(0, 1_000_000), "Longest stack trace kept on a span event."),
    "state_dir": (
        str.strip,
        "Local folder for in-flight markers that reveal killed tries (empty: $AIRFLOW_HOME/otel_listener/inflight).",
    ),
    "lineage_enabled": (
        _choice("auto", "true", "false"),
        "OpenLineage events: auto = on when an OpenLineage transport is configured (OPENLINEAGE_URL, ...).",
    ),
    "lineage_namespace": (_non_empty, "OpenLineage job namespace of DAG runs and task tries."),
    "lineage_transport": (
        _choice("openlineage", "otlp"),
        "openlineage = the client's standard transport config; otlp = OTLP log records to the Collector.",
    ),
    "lineage_spool_max_mb": (
        _bounded_int(1, 1_000_000),
        "Size cap of the on-disk spool of unsent lineage events; when full, new events are dropped and counted.",
    ),
    "lineage_with_provider": (
        _parse_bool,
        "Emit lineage even when the official OpenLineage provider is installed and enabled.",
    ),
    "alerting_enabled": (
        _choice("auto", "true", "false"),
        "Alert rules and destinations: auto = on when alert_rules_file is set.",
    ),
    "alert_rules_file": (str.strip, "Path of the YAML alert rules file (see Alerting)."),
    "alert_dry_run": (
        _parse_bool,
        "Render every alert as its destination would receive it, but only log it (no credentials needed).",
    ),
    "alert_quiet_hours": (
        str.strip,
        "Overrides the rules file's defaults.quiet_hours, e.g. 22:00-07:00 (UTC), or off.",
    ),
    "alert_jaeger_url": (str.strip, "Jaeger UI base URL for trace links in alerts (overrides defaults.jaeger_url)."),
    "alert_send_timeout": (
        _bounded_float(0.1, 300.0),
        "Seconds one delivery round may take on the alert sink's thread (task processes: their flush deadline).",
    ),
    "alert_dead_letter_after": (
        _bounded_float(1.0, 30 * 86400.0),
        "Seconds an undeliverable alert stays in the outbox before it moves to the dead-letter spool.",
    ),
    "alert_spool_max_mb": (_bounded_int(1, 1_000_000), "Size cap of each destination's alert outbox on disk."),
}


def _airflow_conf_lookup() -> Callable[[str], str | None]:
    """Read ``[otel_listener]`` from airflow.cfg when Airflow's config is importable."""
    try:
        from airflow.configuration import conf
    except Exception:  # task-sdk-only workers or broken installs: env vars still work
        return lambda key: None

    def lookup(key: str) -> str | None:
        try:
            if conf.has_option(SECTION, key):
                return conf.get(SECTION, key)
        except Exception:
            return None
        return None

    return lookup


def load_settings(
    environ: Mapping[str, str] | None = None,
    file_lookup: Callable[[str], str | None] | None = None,
    log_problems: bool = True,
) -> Settings:
    """Build :class:`Settings`, logging one line per invalid value and falling back safely.

    ``log_problems=False`` validates a candidate configuration without logging (the problems
    are still returned in :attr:`Settings.problems`).
    """
    env = os.environ if environ is None else environ
    lookup = _airflow_conf_lookup() if file_lookup is None else file_lookup
    defaults = Settings()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for key, (parser, _doc) in OPTIONS.items():
        env_name = f"AIRFLOW__{SECTION.upper()}__{key.upper()}"
        raw, source = env.get(env_name), env_name
        if raw is None:
            raw, source = lookup(key), f"airflow.cfg [{SECTION}] {key}"
        if raw is None:
            sources[key] = "default"
            continue
        try:
            values[key] = parser(raw)
            sources[key] = source
        except (ValueError, TypeError) as exc:
            fallback = getattr(defaults, key)
            if parser is _parse_bool and key != "enabled":
                fallback = False  # a switch we cannot read is safer off than on
            problems.append(f"{source}={raw!r} is invalid ({exc}); using {fallback!r}")
            values[key] = fallback
            sources[key] = f"fallback (invalid {source})"
    for problem in problems if log_problems else ():
        log.warning("otel_listener: %s", problem)
    return Settings(**values, sources=sources, problems=tuple(problems))

"""Per-process state of the listener: settings, health, dispatcher and the process role.

Built lazily at the first hook call (cheap: no SDK import; sinks build themselves on their
own threads) and forgotten in forked children, which must never reuse a parent's exporters,
threads or counters (the LocalExecutor and the task supervisor both fork).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from otel_listener import __version__
from otel_listener.adapter import role_from_argv
from otel_listener.config import Settings, load_settings
from otel_listener.dispatcher import Dispatcher, SinkFactory
from otel_listener.health import Health

log = logging.getLogger("otel_listener")

SHORT_LIVED_ROLES = ("task", "dags-test")


@dataclass
class Runtime:
    settings: Settings
    health: Health
    dispatcher: Dispatcher


_lock = threading.Lock()
_runtime: Runtime | None = None
_disabled_settings: Settings | None = None
_role: str | None = None


def set_role(role: str) -> None:
    """Record what this process is (from ``on_starting``): decides flush and timeout policy."""
    global _role
    _role = role


def role() -> str:
    return _role or role_from_argv()


def _export_cap(settings: Settings) -> float | None:
    """Short-lived processes cap exporter timeouts at the flush deadline; others keep OTEL_* values."""
    return settings.flush_timeout if role() in SHORT_LIVED_ROLES else None


def inflight_dir(settings: Settings) -> Path:
    from otel_listener.inflight import default_dir

    return Path(settings.state_dir) / "inflight" if settings.state_dir else default_dir()


def lineage_spool_dir(settings: Settings) -> Path:
    """Where unsent OpenLineage events wait (next to the in-flight markers)."""
    return inflight_dir(settings).parent / "lineage-spool"


def lineage_wanted(settings: Settings) -> bool:
    if settings.lineage_enabled == "auto":
        from otel_listener.lineage.transport import configured

        return settings.lineage_transport == "otlp" or configured()
    return settings.lineage_enabled == "true"


def alerts_dir(settings: Settings) -> Path:
    """Alert state (SQLite), outboxes and dead letters (next to the in-flight markers)."""
    return inflight_dir(settings).parent / "alerts"


def alerting_wanted(settings: Settings) -> bool:
    if settings.alerting_enabled == "auto":
        return bool(settings.alert_rules_file)
    return settings.alerting_enabled == "true"


def _sink_factories(settings: Settings, health: Health) -> list[tuple[str, SinkFactory]]:
    """The sinks this process runs. Each factory imports its module on the sink's own thread."""

    def inflight() -> object:
        from otel_listener.inflight import InflightSink

        return InflightSink(inflight_dir(settings))

    def traces() -> object:
        from otel_listener.sinks.traces import TraceSink

        return TraceSink(__version__, _export_cap(settings))

    def metrics() -> object:
        from otel_listener.sinks.metrics import MetricsSink

        return MetricsSink(__version__, health, _export_cap(settings))

    def lineage() -> object:
        from otel_listener.sinks.lineage import make_sink

        return make_sink(settings, health, lineage_spool_dir(settings), __version__, _export_cap(settings))

    def alerting() -> object:
        from otel_listener.alerting.sink import make_sink as make_alert_sink

        return make_alert_sink(settings, health, alerts_dir(settings))

    wanted = {
        "inflight": settings.synthesize_task_spans and (settings.traces_enabled or settings.metrics_enabled),
        "traces": settings.traces_enabled,
        "metrics": settings.metrics_enabled,
        "lineage": lineage_wanted(settings),
        "alerting": alerting_wanted(settings),
    }
    factories = {
        "inflight": inflight,
        "traces": traces,
        "metrics": metrics,
        "lineage": lineage,
        "alerting": alerting,
    }
    return [(name, factories[name]) for name, on in wanted.items() if on]  # type: ignore[misc]


FORKING_ROLES = ("scheduler", "celery")


def preload(settings: Settings) -> None:
    """Import the sink modules now, in a process that forks task processes (fork-friendly start-up).

    The scheduler forks the LocalExecutor's workers right after ``on_starting``; modules imported
    before that are inherited by every worker, supervisor and task process, so no task process
    pays for importing the OpenTelemetry SDK and exporters (measured: about half of the
    listener's CPU per task). Paid once per scheduler start; failures only mean no preloading.
    """
    import importlib

    from otel_listener.sinks import otlp

    names = []
    for enabled, signal, sink in (
        (settings.traces_enabled, "traces", "traces"),
        (settings.metrics_enabled, "metrics", "metrics"),
    ):
        if not enabled:
            continue
        names.append(f"otel_listener.sinks.{sink}")
        try:
            proto = "grpc" if otlp.protocol(signal) == "grpc" else "http"
        except ValueError:
            continue
        kind = "trace" if signal == "traces" else "metric"
        names.append(f"opentelemetry.exporter.otlp.proto.{proto}.{kind}_exporter")
    try:
        if lineage_wanted(settings):
            names += ["otel_listener.sinks.lineage", "openlineage.client"]  # ~0.5 s of imports per process
    except Exception:
        pass
    if alerting_wanted(settings):
        names += ["otel_listener.alerting.sink", "yaml"]
        names += [f"otel_listener.alerting.destinations.{d}" for d in ("slack", "pagerduty", "email", "log")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # a broken install shows up later, once, when the sink is built
            pass


def get() -> Runtime | None:
    """The process's runtime, or ``None`` when the listener is disabled by configuration."""
    global _runtime, _disabled_settings
    runtime = _runtime
    if runtime is not None or _disabled_settings is not None:
        return runtime
    with _lock:
        if _runtime is None and _disabled_settings is None:
            settings = load_settings()
            if not settings.enabled:
                _disabled_settings = settings
                log.info("otel_listener: disabled by configuration (%s)", settings.sources.get("enabled"))
                return None
            health = Health()
            dispatcher = Dispatcher(
                _sink_factories(settings, health),
                health,
                max_queue=settings.queue_size,
                tick_interval=settings.metric_export_interval,
            )
            _runtime = Runtime(settings, health, dispatcher)
        return _runtime


def install(runtime: Runtime | None) -> None:
    """Replace the process runtime (tests, testing kits); the replaced one's threads are stopped."""
    global _runtime, _disabled_settings
    with _lock:
        previous, _runtime = _runtime, runtime
        _disabled_settings = None
    if previous is not None and previous is not runtime:
        previous.dispatcher.stop()


def _after_fork_in_child() -> None:
    global _runtime, _disabled_settings, _role, _lock
    _lock = threading.Lock()
    _runtime = None
    _disabled_settings = None
    _role = None


def _at_exit() -> None:
    runtime = _runtime
    if runtime is not None:
        try:
            runtime.dispatcher.close(runtime.settings.flush_timeout)
        except Exception:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)

"""Airflow plugin registration (``airflow.plugins`` entry point or a plugins-folder shim).

Loading checks the Airflow version once; outside the supported range the plugin registers no
listener and says so in one line instead of failing Airflow's start-up.
"""

from __future__ import annotations

import logging

try:
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # task-sdk-only workers
    from airflow.sdk.plugins_manager import AirflowPlugin  # type: ignore[no-redef]

log = logging.getLogger("otel_listener")

SUPPORTED_AIRFLOW = ((3, 0), (4, 0))


def airflow_version() -> tuple[int, int] | None:
    try:
        from importlib.metadata import version

        major, minor, *_ = version("apache-airflow").split(".")
        return int(major), int(minor)
    except Exception:
        return None


def compatible_listeners() -> list[object]:
    """Our listener, or nothing when the installed Airflow is outside the supported range."""
    found = airflow_version()
    low, high = SUPPORTED_AIRFLOW
    if found is not None and not (low <= found < high):
        log.warning(
            "otel_listener: Airflow %s.%s is not supported (need >=%s.%s,<%s.%s); listener not registered",
            *found,
            *low,
            *high,
        )
        return []
    from otel_listener.listener import listener

    return [listener]


class OtelListenerPlugin(AirflowPlugin):
    """Registers :data:`otel_listener.listener.listener` with Airflow."""

    name = "otel_listener"
    listeners = compatible_listeners()

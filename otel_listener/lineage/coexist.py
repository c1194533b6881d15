"""Living next to the official OpenLineage provider (``apache-airflow-providers-openlineage``).

Both would describe the same runs with the same job names and run-id conventions would differ:
by default this listener stays quiet for lineage while the provider is installed and enabled
(``lineage_with_provider=true`` makes both emit), and says which one is active in one log line.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping

_TRUE = {"1", "true", "yes", "on", "t", "y"}


def provider_installed() -> bool:
    try:
        return importlib.util.find_spec("airflow.providers.openlineage") is not None
    except (ImportError, ValueError):
        return False


def provider_enabled(
    environ: Mapping[str, str] | None = None, conf_lookup: Callable[[], str | None] | None = None
) -> bool:
    """Installed and not switched off (``[openlineage] disabled`` / ``OPENLINEAGE_DISABLED``)."""
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() in _TRUE:
        return False
    raw = env.get("AIRFLOW__OPENLINEAGE__DISABLED")
    if raw is None:
        raw = (conf_lookup or _airflow_conf_disabled)()
    if raw is not None and raw.strip().lower() in _TRUE:
        return False
    return True


def _airflow_conf_disabled() -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("openlineage", "disabled", fallback=None)
    except Exception:
        return None


def decide(with_provider: bool, installed: bool | None = None, enabled: bool | None = None) -> tuple[bool, str]:
    """``(we_emit, log line)``."""
    installed = provider_installed() if installed is None else installed
    if not installed:
        return True, "otel_listener: lineage events come from otel_listener (no OpenLineage provider installed)"
    enabled = provider_enabled() if enabled is None else enabled
    if not enabled:
        return True, "otel_listener: lineage events come from otel_listener (the OpenLineage provider is disabled)"
    if with_provider:
        return True, (
            "otel_listener: the OpenLineage provider is active and lineage_with_provider=true: "
            "both emit lineage events (expect duplicates in the backend)"
        )
    return False, (
        "otel_listener: the OpenLineage provider is active, so it emits lineage events and otel_listener does not "
        "(set lineage_with_provider=true to emit from both)"
    )

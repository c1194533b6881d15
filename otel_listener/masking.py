"""Mask secrets before anything leaves the process.

Airflow's secrets masker knows every connection password and sensitive variable this process
has seen; task processes use the task SDK's copy, the scheduler and api-server the core one.
Both are applied (whichever exist) to free text such as error messages and stack traces.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

REPLACEMENT = "***"


@cache
def _redactors() -> tuple[Callable[[str], object], ...]:
    found = []
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        try:
            mod = __import__(module, fromlist=["redact"])
            found.append(mod.redact)
        except Exception:
            continue
    return tuple(found)


def redact_text(value: str) -> str:
    """``value`` with every known secret replaced by ``***``; never raises."""
    for redact in _redactors():
        try:
            redacted = redact(value)
        except Exception:
            continue
        if isinstance(redacted, str):
            value = redacted
    return value

"""The listener's own health: counters for what went wrong, logged once per incident.

Every failure inside the listener is caught somewhere; this is where it is counted (the
metrics sink exports the counters as ``otel_listener.*``) and logged. Logging is rate-limited
per incident key so a dead collector produces one line, not one line per task event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

log = logging.getLogger("otel_listener")

LOG_INTERVAL_SECONDS = 300.0


class Health:
    """Thread-safe counters plus once-per-incident logging."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.sink_errors: Counter[str] = Counter()
        self.hook_errors: Counter[str] = Counter()
        self.flushes: list[tuple[float, str]] = []
        self.lines_logged: Counter[str] = Counter()  # per incident key: how many log lines it cost
        self._last_logged: dict[str, float] = {}

    def count_event(self, kind: str) -> None:
        with self._lock:
            self.events[kind] += 1

    def count_drop(self, reason: str) -> None:
        with self._lock:
            self.dropped[reason] += 1
        self.warn_once(
            f"drop:{reason}", "otel_listener: dropping events (%s); counted in otel_listener.events.dropped", reason
        )

    def count_sink_error(self, sink: str, exc: BaseException) -> None:
        with self._lock:
            self.sink_errors[sink] += 1
        self.warn_once(f"sink:{sink}", "otel_listener: sink %s failed: %s", sink, _describe(exc))

    def count_hook_error(self, hook: str, exc: BaseException) -> None:
        with self._lock:
            self.hook_errors[hook] += 1
        self.warn_once(f"hook:{hook}:{type(exc).__name__}", "otel_listener: hook %s failed: %s", hook, _describe(exc))

    def record_flush(self, seconds: float, outcome: str) -> None:
        with self._lock:
            self.flushes.append((seconds, outcome))
            del self.flushes[:-1000]
        if outcome != "ok":
            self.warn_once(
                f"flush:{outcome}",
                "otel_listener: flush ended by %s after %.3fs; unsent telemetry dropped",
                outcome,
                seconds,
            )

    def take_flushes(self) -> list[tuple[float, str]]:
        """Hand recorded flush timings to the metrics sink exactly once."""
        with self._lock:
            taken, self.flushes = self.flushes, []
        return taken

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A copy of all counters (for observable instruments and tests)."""
        with self._lock:
            return {
                "events": dict(self.events),
                "dropped": dict(self.dropped),
                "sink_errors": dict(self.sink_errors),
                "hook_errors": dict(self.hook_errors),
            }

    def warn_once(self, key: str, msg: str, *args: object) -> None:
        """Log ``msg`` at most once per :data:`LOG_INTERVAL_SECONDS` for ``key``."""
        now = time.monotonic()
        with self._lock:
            last = self._last_logged.get(key)
            if last is not None and now - last < LOG_INTERVAL_SECONDS:
                return
            self._last_logged[key] = now
            self.lines_logged[key] += 1
        try:
            log.warning(msg, *args)
        except Exception:  # a broken logging handler must not escape either
            pass


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text[:500]}"

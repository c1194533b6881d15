"""Deterministic trace and span ids.

Task processes and the scheduler never talk to each other, yet their spans must land in one
trace with the right parents. So ids are derived from what every process can see: the DAG id,
the run id and the run's ``clear_number`` (a cleared run gets a new trace), or an upstream
W3C ``traceparent`` passed in the run's ``conf``.
"""

from __future__ import annotations

import hashlib
import re

from otel_listener.events import RunRef

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def _digest(*parts: object) -> bytes:
    text = "/".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _nonzero(value: int) -> int:
    """All-zero ids are invalid in W3C/OTel; map the (astronomically unlikely) zero to one."""
    return value or 1


def parse_traceparent(value: object) -> tuple[int, int, int] | None:
    """Return ``(trace_id, span_id, flags)`` of a valid W3C traceparent, else ``None``."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match:
        return None
    version, trace_hex, span_hex, flags_hex = match.groups()
    if version == "ff":
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(flags_hex, 16)


def format_traceparent(trace_id: int, span_id: int, sampled: bool = True) -> str:
    """Render ids as a W3C traceparent header value."""
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"


def trace_id_for(run: RunRef) -> int:
    """The trace id shared by a DAG-run attempt and all its task tries."""
    upstream = parse_traceparent(run.traceparent)
    if upstream is not None:
        return upstream[0]
    return _nonzero(
        int.from_bytes(_digest("otel-listener/trace", run.dag_id, run.run_id, run.clear_number)[:16], "big")
    )


def dag_run_span_id(run: RunRef) -> int:
    """The span id of the DAG-run span: parent of every task-try span of the run."""
    return _nonzero(
        int.from_bytes(_digest("otel-listener/dag_run", run.dag_id, run.run_id, run.clear_number)[:8], "big")
    )


def task_span_id(run: RunRef, task_id: str, map_index: int, try_number: int) -> int:
    """The span id of one task try; the same in whichever process builds it."""
    digest = _digest("otel-listener/task", run.dag_id, run.run_id, run.clear_number, task_id, map_index, try_number)
    return _nonzero(int.from_bytes(digest[:8], "big"))


def manual_change_span_id(run: RunRef, subject: str, observed_ns: int) -> int:
    """A state set by hand (UI/REST) is its own span: never the id of a try or of the run."""
    digest = _digest("otel-listener/manual", run.dag_id, run.run_id, run.clear_number, subject, observed_ns)
    return _nonzero(int.from_bytes(digest[:8], "big"))


def upstream_parent(run: RunRef) -> tuple[int, int] | None:
    """The external ``(trace_id, span_id)`` the DAG-run span hangs under, if conf carried one."""
    parsed = parse_traceparent(run.traceparent)
    return None if parsed is None else (parsed[0], parsed[1])

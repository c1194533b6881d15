"""Read a trace back from Jaeger's HTTP API into the receiver's span shape, to assert the same way."""

from __future__ import annotations

import json
import urllib.request

from otlp_receiver import Span

JAEGER = "http://127.0.0.1:16686"


def _tags(items: list[dict]) -> dict:
    return {t["key"]: t["value"] for t in items}


def jaeger_trace(trace_id: str) -> list[Span]:
    """Spans of one trace as :class:`otlp_receiver.Span` (empty when Jaeger has none yet)."""
    try:
        with urllib.request.urlopen(f"{JAEGER}/api/traces/{trace_id}", timeout=10) as response:
            data = json.loads(response.read()).get("data") or []
    except OSError:
        return []
    if not data:
        return []
    processes = data[0]["processes"]
    spans = []
    for raw in data[0]["spans"]:
        tags = _tags(raw["tags"])
        parent = next((r["spanID"] for r in raw.get("references", []) if r["refType"] == "CHILD_OF"), "")
        start_ns = raw["startTime"] * 1000
        spans.append(
            Span(
                trace_id=raw["traceID"].rjust(32, "0"),
                span_id=raw["spanID"].rjust(16, "0"),
                parent_span_id=parent.rjust(16, "0") if parent else "",
                name=raw["operationName"],
                start_ns=start_ns,
                end_ns=start_ns + raw["duration"] * 1000,
                attributes={k: v for k, v in tags.items() if not k.startswith(("otel.", "span.kind", "error"))},
                status_code=2 if tags.get("otel.status_code") == "ERROR" else 0,
                events=[
                    _tags(log["fields"]) | {"name": _tags(log["fields"]).get("event")} for log in raw.get("logs", [])
                ],
                links=[],
                resource={"service.name": processes[raw["processID"]]["serviceName"]},
            )
        )
    return spans

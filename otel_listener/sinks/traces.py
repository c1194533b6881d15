"""Spans: one per task try, one per DAG run, all of a run in one trace.

Spans are built directly as finished ``ReadableSpan`` objects with the ids from
:mod:`otel_listener.ids` and the real start/end times of the try or run, then exported in
batches. No tracer, no context propagation: the processes that emit the spans of one trace
never talk to each other.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from otel_listener import ids
from otel_listener.events import (
    DAG_RUN_END_KINDS,
    TASK_END_KINDS,
    DagRunEvent,
    Event,
    Outcome,
    TaskEvent,
)
from otel_listener.masking import redact_text
from otel_listener.sinks import otlp

SCOPE_NAME = "otel_listener"
BATCH_SIZE = 512
MANUAL_ROLE = "api-server"  # hooks fired there are states set by hand through the UI/REST API
MAX_BUFFERED = 20_000

_TASK_RESULT = {
    Outcome.SUCCESS: "success",
    Outcome.RETRY: "failure",
    Outcome.FAILED: "failure",
    Outcome.SKIPPED: "skip",
    Outcome.UPSTREAM_FAILED: "skip",
    Outcome.REMOVED: "cancellation",
}


def to_ns(value: datetime | None, fallback_ns: int) -> int:
    if value is None:
        return fallback_ns
    try:
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    except (OverflowError, OSError, ValueError):
        return fallback_ns


class TraceSink:
    """Builds spans from task and DAG-run events and exports them over OTLP."""

    name = "traces"

    def __init__(self, version: str, export_timeout_cap: float | None, exporter: Any = None) -> None:
        from opentelemetry.sdk.trace.sampling import _get_from_env_or_default
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self._exporter = exporter or otlp.span_exporter(otlp.export_timeout("traces", export_timeout_cap))
        self._resource = otlp.resource()
        self._scope = InstrumentationScope(SCOPE_NAME, version)
        self._sampler = _get_from_env_or_default()
        self._limit = otlp.attribute_value_limit()
        self._buffer: list[Any] = []

    # -- Sink protocol -------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, TaskEvent) and event.kind in TASK_END_KINDS:
            self._add(self._task_span(event))
        elif isinstance(event, DagRunEvent) and event.kind in DAG_RUN_END_KINDS:
            self._add(self._dag_run_span(event))
            for task in event.synthesized_tasks:
                self._add(self._task_span(task))
        if len(self._buffer) >= BATCH_SIZE:
            self._export()

    def flush(self, timeout: float) -> None:
        self._export()

    def tick(self) -> None:
        self._export()

    # -- building --------------------------------------------------------------------------
    def _add(self, span: Any) -> None:
        if span is None:
            return
        if len(self._buffer) >= MAX_BUFFERED:
            raise RuntimeError(f"span buffer full ({MAX_BUFFERED}); dropping span {span.name!r}")
        self._buffer.append(span)

    def _export(self) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        while self._buffer:
            batch, self._buffer = self._buffer[:BATCH_SIZE], self._buffer[BATCH_SIZE:]
            result = self._exporter.export(batch)
            if result is not SpanExportResult.SUCCESS:
                raise ConnectionError(f"OTLP span export failed; {len(batch)} span(s) dropped")

    def _clean(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Drop ``None``, keep only OTLP-encodable values, valid UTF-8 and within the length limit."""
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, str):
                out[key] = _utf8(value)[: self._limit]
            elif isinstance(value, (bool, int, float)):
                out[key] = value
            else:
                out[key] = _utf8(str(value))[: self._limit]
        return out

    def _sampled(self, trace_id: int, name: str, parent: Any) -> bool:
        from opentelemetry.sdk.trace.sampling import Decision
        from opentelemetry.trace import NonRecordingSpan, set_span_in_context

        context = set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
        result = self._sampler.should_sample(context, trace_id, name)
        return result.decision is Decision.RECORD_AND_SAMPLE

    def _span(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        parent: Any,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any],
        error: bool,
        events: tuple[Any, ...] = (),
        links: tuple[Any, ...] = (),
    ) -> Any:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        if not self._sampled(trace_id, name, parent):
            return None
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        return ReadableSpan(
            name=_utf8(name)[:256],
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=self._clean(attributes),
            events=events,
            links=links,
            kind=SpanKind.INTERNAL,
            instrumentation_scope=self._scope,
            status=Status(StatusCode.ERROR) if error else Status(StatusCode.UNSET),
            start_time=start_ns,
            end_time=max(start_ns, end_ns),
        )

    def _task_span(self, event: TaskEvent) -> Any:
        from opentelemetry.sdk.trace import Event as SpanEvent
        from opentelemetry.trace import SpanContext, TraceFlags

        run = event.run
        trace_id = ids.trace_id_for(run)
        manual = event.process_role == MANUAL_ROLE
        end_ns = to_ns(event.end_date, event.observed_at_ns or time.time_ns())
        start_ns = to_ns(event.start_date, end_ns)
        if manual:
            # A state set by hand is not a try: a zero-length span of its own at the moment of the change.
            subject = f"task/{event.task_id}/{event.map_index}"
            span_id = ids.manual_change_span_id(run, subject, event.observed_at_ns)
            name = f"manual_state_change {event.task_id}"
            start_ns = end_ns = event.observed_at_ns or time.time_ns()
        else:
            span_id = ids.task_span_id(run, event.task_id, event.map_index, event.try_number)
            name = f"task {event.task_id}"
        parent = SpanContext(
            trace_id, ids.dag_run_span_id(run), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        failed = event.outcome in (Outcome.FAILED, Outcome.RETRY)
        span_events: tuple[Any, ...] = ()
        if event.error is not None:
            span_events = (
                SpanEvent(
                    "exception",
                    self._clean(
                        {
                            "exception.type": event.error.type,
                            "exception.message": redact_text(event.error.message),
                            "exception.stacktrace": redact_text(event.error.stacktrace) or None,
                        }
                    ),
                    timestamp=end_ns,
                ),
            )
        attributes = {
            **_run_attributes(event.run),
            "airflow.task_id": event.task_id,
            "airflow.try_number": event.try_number,
            "airflow.max_tries": event.max_tries,
            "airflow.map_index": event.map_index,
            "airflow.rendered_map_index": event.rendered_map_index,
            "airflow.operator": event.operator,
            "airflow.pool": event.pool,
            "airflow.queue": event.queue,
            "airflow.hostname": event.hostname,
            "airflow.task.state": event.state,
            "airflow.task.previous_state": event.previous_state,
            "airflow.task.outcome": event.outcome.value if event.outcome else None,
            "airflow.task.will_retry": event.outcome is Outcome.RETRY,
            "airflow.task.synthesized": event.kind.value == "task_synthesized",
            "airflow.task.killed": event.killed or None,
            "airflow.task.manual": manual or None,
            "airflow.task.owner": event.owner,
            "airflow.run_type": event.run_type,
            "airflow.process.role": event.process_role,
            "cicd.pipeline.task.name": event.task_id,
            "cicd.pipeline.task.run.id": f"{run.run_id}/{event.task_id}/{event.map_index}/{event.try_number}",
            "cicd.pipeline.task.run.result": _TASK_RESULT.get(event.outcome) if event.outcome else None,
            "cicd.pipeline.task.run.url.full": event.log_url,
        }
        return self._span(name, trace_id, span_id, parent, start_ns, end_ns, attributes, failed, span_events)

    def _dag_run_span(self, event: DagRunEvent) -> Any:
        from opentelemetry.trace import Link, SpanContext, TraceFlags

        run = event.run
        trace_id = ids.trace_id_for(run)
        upstream = ids.upstream_parent(run)
        parent = None
        if upstream is not None:
            flags = ids.parse_traceparent(run.traceparent)[2]  # type: ignore[index]
            parent = SpanContext(upstream[0], upstream[1], is_remote=True, trace_flags=TraceFlags(flags & 1))
        end_ns = to_ns(event.end_date, event.observed_at_ns or time.time_ns())
        start_ns = to_ns(event.start_date, end_ns)
        links = tuple(
            Link(
                SpanContext(
                    ids.trace_id_for(u.run),
                    ids.dag_run_span_id(u.run),
                    is_remote=True,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                ),
                {"airflow.dag_id": u.run.dag_id, "airflow.run_id": u.run.run_id, "airflow.link.type": "asset_trigger"},
            )
            for u in event.upstream_runs
        )
        attributes = {
            **_run_attributes(run),
            "airflow.run_type": event.run_type,
            "airflow.dag_run.state": event.state,
            "airflow.logical_date": event.logical_date.isoformat() if event.logical_date else None,
            "airflow.dag_run.triggering_user": event.triggering_user,
            "airflow.dag_run.msg": event.msg,
            "airflow.process.role": event.process_role,
            "cicd.pipeline.result": "success" if event.outcome is Outcome.SUCCESS else "failure",
        }
        if event.process_role == MANUAL_ROLE:
            # The run's own span was emitted when it ended; a state set by hand hangs under it.
            observed = event.observed_at_ns or time.time_ns()
            run_span = SpanContext(
                trace_id, ids.dag_run_span_id(run), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
            )
            return self._span(
                f"manual_state_change dag_run {run.dag_id}",
                trace_id,
                ids.manual_change_span_id(run, "dag_run", observed),
                run_span,
                observed,
                observed,
                {**attributes, "airflow.dag_run.manual": True},
                False,
            )
        return self._span(
            f"dag_run {run.dag_id}",
            trace_id,
            ids.dag_run_span_id(run),
            parent,
            start_ns,
            end_ns,
            attributes,
            event.outcome is Outcome.FAILED,
            links=links,
        )


def _run_attributes(run: Any) -> dict[str, Any]:
    return {
        "airflow.dag_id": run.dag_id,
        "airflow.run_id": run.run_id,
        "airflow.dag_run.clear_number": run.clear_number,
        "cicd.pipeline.name": run.dag_id,
        "cicd.pipeline.run.id": run.run_id,
    }


def _utf8(value: str) -> str:
    """Strings OTLP can encode: lone surrogates become U+FFFD (a whole batch would fail otherwise)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value

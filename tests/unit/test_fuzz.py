"""Property tests: whatever Airflow (or a DAG author) puts into a task instance, the builder
never raises and the spans it makes always encode as valid OTLP within attribute limits."""

from datetime import datetime, timedelta, timezone

from fakes import RuntimeTaskInstance, SdkDagRun, ServerContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_listener import adapter
from otel_listener.events import EventKind
from otel_listener.sinks.traces import TraceSink

ids = st.text(min_size=0, max_size=3000)  # includes control characters and lone surrogates
dates = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)),
)


class WeirdError(Exception):
    def __init__(self, message, breaks):
        super().__init__(message)
        self.breaks = breaks

    def __str__(self):
        if self.breaks:
            raise RuntimeError("__str__ raised")
        return super().__str__()


errors = st.one_of(
    st.none(),
    st.text(max_size=20_000),
    st.builds(WeirdError, st.text(max_size=20_000), st.booleans()),
    st.builds(ValueError, st.text(max_size=100)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dag_id=ids,
    task_id=ids,
    run_id=ids,
    start=dates,
    end=dates,
    try_number=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    map_index=st.one_of(st.none(), st.integers(-5, 10**6)),
    error=errors,
    conf=st.one_of(st.none(), st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=3)),
    kind=st.sampled_from(
        [EventKind.TASK_SUCCESS, EventKind.TASK_FAILED, EventKind.TASK_SKIPPED, EventKind.TASK_RUNNING]
    ),
)
def test_builder_and_span_encoding_never_fail(
    dag_id, task_id, run_id, start, end, try_number, map_index, error, conf, kind
):
    ti = RuntimeTaskInstance(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        start_date=start,
        end_date=end,
        try_number=try_number,
        map_index=map_index,
        _ti_context_from_server=ServerContext(SdkDagRun(conf=conf)),
    )
    event = adapter.task_event(kind, ti, error=error, role="task", max_stacktrace=4096)
    exporter = InMemorySpanExporter()
    sink = TraceSink("fuzz", None, exporter=exporter)
    sink.handle(event)
    if kind is not EventKind.TASK_RUNNING:
        sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task"))
    sink.flush(1)
    spans = exporter.get_finished_spans()
    encode_spans(spans).SerializeToString()
    for span in spans:
        assert span.end_time >= span.start_time
        for value in span.attributes.values():
            assert not isinstance(value, str) or len(value) <= 4096
        for span_event in span.events:
            for value in span_event.attributes.values():
                assert not isinstance(value, str) or len(value) <= 4096


def test_end_before_start_is_clamped():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ti = RuntimeTaskInstance(start_date=start, end_date=start - timedelta(hours=1))
    exporter = InMemorySpanExporter()
    sink = TraceSink("fuzz", None, exporter=exporter)
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task"))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    assert span.end_time == span.start_time

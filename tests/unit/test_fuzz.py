"""Property tests: whatever Airflow (or a DAG author) puts into a task instance, the builder
never raises and the spans it makes always encode as valid OTLP within attribute limits."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from fakes import OrmDagRun, OrmTaskInstance, RuntimeTaskInstance, SdkDagRun, ServerContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_listener import adapter
from otel_listener.events import EventKind
from otel_listener.health import Health
from otel_listener.sinks.metrics import MetricsSink, delta_temporality
from otel_listener.sinks.traces import TraceSink

ids = st.text(st.characters(exclude_categories=()), max_size=3000)  # control characters, lone surrogates
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


# -- DAG-run events, metric labels and asset events ------------------------------------------
class EncodingExporter(MetricExporter):
    """Encodes every batch to OTLP protobuf bytes, as the real exporter would, and keeps the points."""

    def __init__(self):
        super().__init__(preferred_temporality=delta_temporality())
        self.points = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        encode_metrics(metrics_data).SerializeToString()  # raises on anything OTLP cannot carry
        for rm in metrics_data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    self.points += [(metric.name, p) for p in metric.data.data_points]
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass


states = st.one_of(st.none(), st.sampled_from(["success", "failed", "upstream_failed", "skipped", "removed"]), ids)
task_instances = st.lists(
    st.builds(
        OrmTaskInstance,
        task_id=ids,
        try_number=st.one_of(st.none(), st.integers(-5, 2**40)),
        map_index=st.one_of(st.none(), st.integers(-5, 10**6)),
        start_date=dates,
        end_date=dates,
        queued_dttm=dates,
        state=states,
        hostname=st.one_of(st.none(), st.just(""), ids),
        operator=st.one_of(st.none(), ids),
    ),
    max_size=8,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dag_id=ids,
    run_id=ids,
    state=states,
    run_type=st.one_of(st.none(), ids),
    start=dates,
    end=dates,
    queued=dates,
    msg=st.one_of(st.none(), ids),
    tis=task_instances,
    kind=st.sampled_from([EventKind.DAG_RUN_SUCCESS, EventKind.DAG_RUN_FAILED]),
)
def test_dag_run_events_and_metric_labels_always_encode(
    dag_id, run_id, state, run_type, start, end, queued, msg, tis, kind
):
    run = OrmDagRun(dag_id=dag_id, run_id=run_id, state=state, run_type=run_type, start_date=start, end_date=end)
    run.queued_at = queued
    original = (adapter._run_task_instances, adapter._upstream_runs)
    adapter._run_task_instances, adapter._upstream_runs = (lambda dag_run: tis), (lambda dag_run: ())
    try:
        running = adapter.dag_run_event(EventKind.DAG_RUN_RUNNING, run, msg, role="scheduler")
        ended = adapter.dag_run_end_event(kind, run, msg, role="scheduler", synthesize=True)
    finally:
        adapter._run_task_instances, adapter._upstream_runs = original
    spans, metrics = InMemorySpanExporter(), EncodingExporter()
    trace_sink = TraceSink("fuzz", None, exporter=spans)
    metric_sink = MetricsSink("fuzz", Health(), None, exporter=metrics)
    for event in (running, ended):
        trace_sink.handle(event)
        metric_sink.handle(event)
    trace_sink.flush(1)
    metric_sink.flush(1)
    encode_spans(spans.get_finished_spans()).SerializeToString()
    assert [s.name for s in spans.get_finished_spans()].count(f"dag_run {dag_id}"[:256]) <= 1
    for span in spans.get_finished_spans():
        assert span.end_time >= span.start_time
    for name, point in metrics.points:
        for key, value in point.attributes.items():
            assert isinstance(value, str) and len(value) <= 4096, (name, key)
            value.encode("utf-8")  # no lone surrogates reach a label
    runs = sum(p.value for n, p in metrics.points if n == "airflow.dag_run.outcomes")
    assert runs == 1


assets = st.builds(
    SimpleNamespace,
    name=st.one_of(st.none(), ids),
    uri=st.one_of(st.none(), st.text(max_size=5000)),
    group=st.one_of(st.none(), ids),
    extra=st.one_of(
        st.none(),
        st.text(max_size=10),
        st.dictionaries(
            st.text(max_size=300), st.one_of(st.text(max_size=1000), st.integers(), st.none()), max_size=40
        ),
    ),
)
asset_events = st.builds(
    SimpleNamespace,
    asset=assets,
    extra=st.one_of(st.none(), st.dictionaries(st.text(max_size=50), st.text(max_size=500), max_size=40)),
    source_dag_id=st.one_of(st.none(), ids),
    source_task_id=st.one_of(st.none(), ids),
    source_run_id=st.one_of(st.none(), ids),
    source_map_index=st.one_of(st.none(), st.integers(-(2**70), 2**70), st.text(max_size=5)),
)


@settings(max_examples=100, deadline=None)
@given(obj=st.one_of(assets, asset_events, st.none(), st.integers(), st.text(max_size=50)))
def test_asset_events_are_bounded_records(obj):
    for kind in (EventKind.ASSET_CREATED, EventKind.ASSET_CHANGED, EventKind.ASSET_EVENT_EMITTED):
        record = adapter.asset_event(kind, obj, role="api-server")
        assert record.uri is None or len(record.uri) <= 2048
        assert len(record.extra) <= 32
        assert all(isinstance(k, str) and isinstance(v, str) and len(v) <= 256 for k, v in record.extra.items())
        assert record.source_map_index is None or isinstance(record.source_map_index, int)
        TraceSink("fuzz", None, exporter=InMemorySpanExporter()).handle(record)  # ignored, never raises


def test_lone_surrogates_and_control_characters_never_reach_the_wire():
    weird = "etl\ud800\x00\x1b[31m" + "é" * 5000
    ti = RuntimeTaskInstance(dag_id=weird, task_id=weird, run_id=weird)
    spans, metrics = InMemorySpanExporter(), EncodingExporter()
    trace_sink, metric_sink = (
        TraceSink("fuzz", None, exporter=spans),
        MetricsSink("fuzz", Health(), None, exporter=metrics),
    )
    for kind in (EventKind.TASK_RUNNING, EventKind.TASK_SUCCESS):
        event = adapter.task_event(kind, ti, role="task")
        trace_sink.handle(event)
        metric_sink.handle(event)
    trace_sink.flush(1)
    metric_sink.flush(1)
    encode_spans(spans.get_finished_spans()).SerializeToString()
    (span,) = spans.get_finished_spans()
    span.attributes["airflow.task_id"].encode("utf-8")
    labels = [p.attributes for n, p in metrics.points if n == "airflow.task.outcomes"]
    assert labels and all(v.encode("utf-8") for attrs in labels for v in attrs.values())

from dataclasses import replace
from datetime import timedelta

import pytest
from fakes import T0, RuntimeTaskInstance
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from otel_listener import adapter, ids
from otel_listener.events import DagRunEvent, EventKind, Outcome, RunRef, UpstreamRun
from otel_listener.sinks.traces import TraceSink

RUN = RunRef("etl", "manual__1", 0)


@pytest.fixture
def sink_and_exporter():
    exporter = InMemorySpanExporter()
    return TraceSink("test", None, exporter=exporter), exporter


def run_end(**kw):
    defaults = dict(
        kind=EventKind.DAG_RUN_SUCCESS,
        run=RUN,
        state="success",
        outcome=Outcome.SUCCESS,
        start_date=T0,
        end_date=T0 + timedelta(seconds=60),
        process_role="scheduler",
    )
    defaults.update(kw)
    return DagRunEvent(**defaults)


def test_task_span_is_child_of_dag_run_span_with_real_times(sink_and_exporter):
    sink, exporter = sink_and_exporter
    ti = RuntimeTaskInstance(dag_id="etl", run_id="manual__1")
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task"))
    sink.handle(run_end())
    sink.flush(1)
    task, run = exporter.get_finished_spans()
    assert task.context.trace_id == run.context.trace_id == ids.trace_id_for(RUN)
    assert task.parent.span_id == run.context.span_id == ids.dag_run_span_id(RUN)
    assert run.parent is None
    assert task.start_time == int((T0 + timedelta(seconds=5)).timestamp() * 1e9)
    assert task.end_time - task.start_time == 4_000_000_000
    assert task.name == "task extract" and run.name == "dag_run etl"
    assert task.attributes["cicd.pipeline.task.run.result"] == "success"
    assert task.attributes["cicd.pipeline.task.run.url.full"].startswith("http://airflow/")
    assert run.attributes["cicd.pipeline.result"] == "success"
    assert task.resource.attributes["service.name"] == "airflow"


def test_failed_try_has_error_status_and_exception_event(sink_and_exporter):
    sink, exporter = sink_and_exporter
    ti = RuntimeTaskInstance(state="up_for_retry", max_tries=1)
    try:
        raise ValueError("bad row 17")
    except ValueError as exc:
        sink.handle(adapter.task_event(EventKind.TASK_FAILED, ti, error=exc, role="task"))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["airflow.task.will_retry"] is True
    assert span.attributes["airflow.task.outcome"] == "retry"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad row 17"
    assert "raise ValueError" in event.attributes["exception.stacktrace"]


def test_external_traceparent_parents_the_dag_run_span(sink_and_exporter):
    sink, exporter = sink_and_exporter
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sink.handle(run_end(run=RunRef("etl", "r", 0, tp)))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.parent.span_id == 0xB7AD6B7169203331 and span.parent.is_remote


def test_asset_triggered_run_links_to_producer(sink_and_exporter):
    sink, exporter = sink_and_exporter
    producer = RunRef("producer", "scheduled__1", 0)
    sink.handle(run_end(run=RunRef("consumer", "asset_triggered__1"), upstream_runs=(UpstreamRun(producer),)))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    (link,) = span.links
    assert link.context.trace_id == ids.trace_id_for(producer)
    assert link.context.span_id == ids.dag_run_span_id(producer)


def test_synthesized_tasks_travel_with_the_run_end(sink_and_exporter):
    sink, exporter = sink_and_exporter
    synth = replace(
        adapter.task_event(
            EventKind.TASK_SYNTHESIZED,
            RuntimeTaskInstance(task_id="late", run_id="manual__1"),
            role="scheduler",
            state_override="upstream_failed",
        ),
        start_date=None,
        end_date=None,
        observed_at_ns=5,
    )
    sink.handle(run_end(synthesized_tasks=(synth,)))
    sink.flush(1)
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["dag_run etl", "task late"]
    late = next(s for s in exporter.get_finished_spans() if s.name == "task late")
    assert late.attributes["airflow.task.synthesized"] is True
    assert late.attributes["airflow.task.outcome"] == "upstream_failed"
    assert late.end_time >= late.start_time


def test_manual_state_change_is_its_own_span(sink_and_exporter):
    sink, exporter = sink_and_exporter
    ti = RuntimeTaskInstance(run_id="manual__1")
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="api-server"))
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task"))
    sink.flush(1)
    spans = exporter.get_finished_spans()
    assert len({s.context.span_id for s in spans}) == 2
    assert {s.name for s in spans} == {"manual_state_change extract", "task extract"}


def test_strings_are_valid_utf8_and_limited(sink_and_exporter, monkeypatch):
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64")
    exporter = InMemorySpanExporter()
    sink = TraceSink("test", None, exporter=exporter)
    ti = RuntimeTaskInstance(task_id="bad\ud800id", hostname="h" * 500)
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task"))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    assert len(span.attributes["airflow.hostname"]) == 64
    assert "\ud800" not in span.attributes["airflow.task_id"]
    encode_spans([span]).SerializeToString()  # would raise on invalid UTF-8


def test_sampler_from_env_is_honoured(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    sink = TraceSink("test", None, exporter=exporter)
    sink.handle(run_end())
    sink.flush(1)
    assert exporter.get_finished_spans() == ()


def test_failed_export_is_reported():
    class Failing(InMemorySpanExporter):
        def export(self, spans):
            from opentelemetry.sdk.trace.export import SpanExportResult

            return SpanExportResult.FAILURE

    sink = TraceSink("test", None, exporter=Failing())
    sink.handle(run_end())
    with pytest.raises(ConnectionError):
        sink.flush(1)


def test_run_state_set_by_hand_hangs_under_the_run_span(sink_and_exporter):
    sink, exporter = sink_and_exporter
    sink.handle(run_end(process_role="api-server", observed_at_ns=123_000_000_000))
    sink.flush(1)
    (span,) = exporter.get_finished_spans()
    assert span.name == "manual_state_change dag_run etl"
    assert span.parent.span_id == ids.dag_run_span_id(RUN)
    assert span.context.span_id != ids.dag_run_span_id(RUN)
    assert span.start_time == span.end_time == 123_000_000_000
    assert span.attributes["airflow.dag_run.manual"] is True

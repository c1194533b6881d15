from datetime import timedelta

import pytest
from fakes import T0, RuntimeTaskInstance
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, MetricExportResult

from otel_listener import adapter
from otel_listener.events import DagRunEvent, EventKind, Outcome, RunRef
from otel_listener.health import Health
from otel_listener.sinks.metrics import MetricsSink, delta_temporality


class Capture(MetricExporter):
    def __init__(self):
        super().__init__(preferred_temporality=delta_temporality())
        self.batches = []

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis=10_000):
        return True

    def shutdown(self, timeout_millis=30_000, **kwargs):
        pass

    def points(self, name):
        for batch in self.batches:
            for rm in batch.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if metric.name == name:
                            for point in metric.data.data_points:
                                yield metric, point


@pytest.fixture
def sink():
    exporter, health = Capture(), Health()
    return MetricsSink("test", health, None, exporter=exporter), exporter, health


def test_task_outcomes_are_delta_counters_with_bounded_labels(sink):
    metrics, exporter, _ = sink
    for try_number, state in ((1, "up_for_retry"), (2, "failed")):
        ti = RuntimeTaskInstance(state=state, try_number=try_number)
        metrics.handle(adapter.task_event(EventKind.TASK_RUNNING, ti, role="task"))
        metrics.handle(adapter.task_event(EventKind.TASK_FAILED, ti, error="x", role="task"))
    metrics.flush(1)
    points = list(exporter.points("airflow.task.outcomes"))
    assert {p.attributes["outcome"]: p.value for _, p in points} == {"retry": 1, "failed": 1}
    metric, point = points[0]
    assert metric.data.aggregation_temporality is AggregationTemporality.DELTA
    assert set(point.attributes) == {"dag_id", "task_id", "operator", "outcome"}
    durations = list(exporter.points("airflow.task.duration"))
    assert sum(p.count for _, p in durations) == 2 and sum(p.sum for _, p in durations) == 8.0
    running = list(exporter.points("airflow.task.running"))
    assert sum(p.value for _, p in running) == 0


def test_second_export_carries_only_new_deltas(sink):
    metrics, exporter, _ = sink
    metrics.handle(adapter.task_event(EventKind.TASK_SUCCESS, RuntimeTaskInstance(), role="task"))
    metrics.flush(1)
    metrics.handle(adapter.task_event(EventKind.TASK_SUCCESS, RuntimeTaskInstance(try_number=2), role="task"))
    metrics.flush(1)
    per_batch = [
        sum(
            p.value
            for m in b.resource_metrics
            for s in m.scope_metrics
            for x in s.metrics
            if x.name == "airflow.task.outcomes"
            for p in x.data.data_points
        )
        for b in exporter.batches
    ]
    assert per_batch == [1, 1]


def test_dag_run_metrics_and_scheduler_side_task_data(sink):
    metrics, exporter, _ = sink
    run = RunRef("etl", "r1")
    metrics.handle(DagRunEvent(EventKind.DAG_RUN_RUNNING, run, start_date=T0, queued_at=T0 - timedelta(seconds=4)))
    synth = adapter.task_event(
        EventKind.TASK_SYNTHESIZED,
        RuntimeTaskInstance(task_id="late"),
        role="scheduler",
        state_override="upstream_failed",
    )
    metrics.handle(
        DagRunEvent(
            EventKind.DAG_RUN_FAILED,
            run,
            outcome=Outcome.FAILED,
            run_type="manual",
            start_date=T0,
            end_date=T0 + timedelta(seconds=90),
            synthesized_tasks=(synth,),
            task_scheduling_delays=(("extract", 1.5),),
        )
    )
    metrics.flush(1)
    ((_, outcome),) = exporter.points("airflow.dag_run.outcomes")
    assert outcome.attributes == {"dag_id": "etl", "outcome": "failed", "run_type": "manual"} and outcome.value == 1
    ((_, duration),) = exporter.points("airflow.dag_run.duration")
    assert duration.sum == 90.0
    ((_, delay),) = exporter.points("airflow.dag_run.scheduling_delay")
    assert delay.sum == 4.0
    ((_, task_delay),) = exporter.points("airflow.task.scheduling_delay")
    assert task_delay.sum == 1.5 and task_delay.attributes == {"dag_id": "etl", "task_id": "extract"}
    outcomes = {p.attributes["outcome"]: p.value for _, p in exporter.points("airflow.task.outcomes")}
    assert outcomes == {"upstream_failed": 1}


def test_manual_state_changes_are_not_counted_as_tries(sink):
    metrics, exporter, _ = sink
    metrics.handle(adapter.task_event(EventKind.TASK_SUCCESS, RuntimeTaskInstance(), role="api-server"))
    metrics.flush(1)
    assert list(exporter.points("airflow.task.outcomes")) == []


def test_health_counters_are_exported(sink):
    metrics, exporter, health = sink
    health.count_event("task_success")
    health.count_drop("queue_full:traces")
    health.count_sink_error("traces", ConnectionError("x"))
    health.count_hook_error("on_task_instance_success", RuntimeError("y"))
    health.record_flush(0.02, "ok")
    metrics.flush(1)
    assert [p.value for _, p in exporter.points("otel_listener.events")] == [1]
    assert [p.attributes for _, p in exporter.points("otel_listener.events.dropped")] == [
        {"reason": "queue_full:traces"}
    ]
    assert [p.attributes for _, p in exporter.points("otel_listener.sink.errors")] == [{"sink": "traces"}]
    assert [p.attributes for _, p in exporter.points("otel_listener.hook.errors")] == [
        {"hook": "on_task_instance_success"}
    ]
    ((_, flush),) = exporter.points("otel_listener.flush.duration")
    assert flush.count == 1 and flush.attributes == {"outcome": "ok"}


def test_running_is_exported_when_the_try_starts(sink):
    metrics, exporter, _ = sink
    metrics.handle(adapter.task_event(EventKind.TASK_RUNNING, RuntimeTaskInstance(), role="task"))
    assert [p.value for _, p in exporter.points("airflow.task.running")] == [1]

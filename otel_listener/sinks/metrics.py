"""Metrics: task/DAG-run outcomes, durations and delays, plus the listener's own health.

Every instrument is exported with DELTA temporality. A task process lives for seconds and many
of them report the same series; deltas can be summed by the Collector into one exact
cumulative stream, whereas per-process cumulative counters would overwrite each other.
Labels are bounded (dag_id, task_id, operator, outcome, run_type): never run ids or tries.
"""

from __future__ import annotations

import math
from typing import Any

from otel_listener.events import (
    DAG_RUN_END_KINDS,
    DagRunEvent,
    Event,
    EventKind,
    TaskEvent,
)
from otel_listener.health import Health
from otel_listener.sinks import otlp

SCOPE_NAME = "otel_listener"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
FLUSH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
TASK_PROCESS_ROLES = ("task", "dags-test")


def _result_tracking(exporter: Any) -> Any:
    """Wrap an exporter to remember failures: the SDK reader reports a flush as done either way."""
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class ResultTracking(MetricExporter):
        def __init__(self) -> None:
            super().__init__(
                preferred_temporality=exporter._preferred_temporality,
                preferred_aggregation=exporter._preferred_aggregation,
            )
            self.failed = False

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
            result = exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            self.failed = self.failed or result is not MetricExportResult.SUCCESS
            return result

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return exporter.force_flush(timeout_millis=timeout_millis)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            exporter.shutdown(timeout_millis=timeout_millis, **kwargs)

    return ResultTracking()


def delta_temporality() -> dict[type, Any]:
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    delta = AggregationTemporality.DELTA
    return {
        Counter: delta,
        UpDownCounter: delta,
        Histogram: delta,
        ObservableCounter: delta,
        ObservableUpDownCounter: delta,
        ObservableGauge: AggregationTemporality.CUMULATIVE,
    }


class MetricsSink:
    """Records events into OTel instruments; exports on flush (task end) and on tick."""

    name = "metrics"

    def __init__(self, version: str, health: Health, export_timeout_cap: float | None, exporter: Any = None) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        self._health = health
        self._timeout = otlp.export_timeout("metrics", export_timeout_cap)
        self._exporter = _result_tracking(exporter or otlp.metric_exporter(self._timeout, delta_temporality()))
        # An infinite interval means no reader thread: this sink's own thread drives exports.
        self._reader = PeriodicExportingMetricReader(self._exporter, export_interval_millis=math.inf)
        # Our own atexit flush exports last; the SDK's exit hook would shut the exporter down first.
        self._provider = MeterProvider(resource=otlp.resource(), metric_readers=[self._reader], shutdown_on_exit=False)
        meter = self._provider.get_meter(SCOPE_NAME, version)
        self._task_outcomes = meter.create_counter(
            "airflow.task.outcomes", unit="{try}", description="Task tries by outcome (retry counts each retried try)."
        )
        seconds = self._seconds_histogram
        self._task_duration = seconds(meter, "airflow.task.duration", "Wall time of a task try.")
        self._task_delay = seconds(
            meter, "airflow.task.scheduling_delay", "Time a task instance waited between queued and started."
        )
        self._task_running = meter.create_up_down_counter(
            "airflow.task.running", unit="{task}", description="Task tries currently running."
        )
        self._run_outcomes = meter.create_counter(
            "airflow.dag_run.outcomes", unit="{run}", description="Finished DAG runs by outcome."
        )
        self._run_duration = seconds(meter, "airflow.dag_run.duration", "Wall time of a DAG run.")
        self._run_delay = seconds(
            meter, "airflow.dag_run.scheduling_delay", "Time a DAG run waited between queued and running."
        )
        self._flush_duration = seconds(
            meter,
            "otel_listener.flush.duration",
            "Time the listener waited to export telemetry at process end.",
            FLUSH_BUCKETS,
        )
        self._health_counter(
            meter, "otel_listener.events", "{event}", "events", "event", "Events received by the listener."
        )
        self._health_counter(
            meter, "otel_listener.events.dropped", "{event}", "dropped", "reason", "Events dropped (queue full, ...)."
        )
        self._health_counter(
            meter, "otel_listener.sink.errors", "{error}", "sink_errors", "sink", "Failures inside sinks."
        )
        self._health_counter(
            meter, "otel_listener.hook.errors", "{error}", "hook_errors", "hook", "Failures inside hooks."
        )
        self._running: set[tuple[str, str, str, int, int]] = set()

    @staticmethod
    def _seconds_histogram(meter: Any, name: str, description: str, buckets: tuple = DURATION_BUCKETS) -> Any:
        return meter.create_histogram(
            name, unit="s", description=description, explicit_bucket_boundaries_advisory=buckets
        )

    def _health_counter(self, meter: Any, name: str, unit: str, field: str, label: str, description: str) -> None:
        from opentelemetry.metrics import Observation

        def observe(_options: Any) -> list[Any]:
            counts = self._health.snapshot()[field]
            return [Observation(value, {label: key}) for key, value in counts.items()]

        meter.create_observable_counter(name, callbacks=[observe], unit=unit, description=description)

    # -- Sink protocol -------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, TaskEvent):
            self._task(event)
        elif isinstance(event, DagRunEvent):
            self._dag_run(event)

    def flush(self, timeout: float) -> None:
        self._export(timeout)

    def tick(self) -> None:
        self._export(self._timeout)

    # -- recording -----------------------------------------------------------------------
    def _export(self, timeout: float) -> None:
        for seconds, outcome in self._health.take_flushes():
            self._flush_duration.record(seconds, {"outcome": outcome})
        self._exporter.failed = False
        if not self._reader.force_flush(timeout_millis=max(1.0, timeout * 1000)) or self._exporter.failed:
            raise ConnectionError("OTLP metric export failed or timed out; those data points are lost")

    def _task(self, event: TaskEvent) -> None:
        if event.process_role == "api-server":
            return  # a state set by hand is not a try; the try was counted where it ran
        key = (event.run.dag_id, event.run.run_id, event.task_id, event.map_index, event.try_number)
        small = {"dag_id": event.run.dag_id, "task_id": event.task_id}
        if event.kind == EventKind.TASK_RUNNING:
            self._running.add(key)
            self._task_running.add(1, small)
            # Export the +1 now (on this sink's thread, not the task's), or it would leave together
            # with the -1 at the task's end and no one would ever see the task running.
            self._export(self._timeout)
            return
        if key in self._running:
            self._running.discard(key)
            self._task_running.add(-1, small)
        elif event.killed:
            self._task_running.add(-1, small)  # the killed process counted itself running, never stopped
        outcome = event.outcome.value if event.outcome else "unknown"
        labels = {**small, "operator": event.operator or "unknown", "outcome": outcome}
        self._task_outcomes.add(1, labels)
        if event.kind != EventKind.TASK_SYNTHESIZED and event.start_date and event.end_date:
            self._task_duration.record(max(0.0, (event.end_date - event.start_date).total_seconds()), labels)

    def _dag_run(self, event: DagRunEvent) -> None:
        dag_id = event.run.dag_id
        if event.kind == EventKind.DAG_RUN_RUNNING:
            if event.queued_at and event.start_date:
                delay = max(0.0, (event.start_date - event.queued_at).total_seconds())
                self._run_delay.record(delay, {"dag_id": dag_id})
            return
        if event.kind not in DAG_RUN_END_KINDS or event.process_role == "api-server":
            return  # a run state set by hand was counted when the run really ended
        outcome = event.outcome.value if event.outcome else "unknown"
        self._run_outcomes.add(1, {"dag_id": dag_id, "outcome": outcome, "run_type": event.run_type or "unknown"})
        if event.start_date and event.end_date:
            seconds = max(0.0, (event.end_date - event.start_date).total_seconds())
            self._run_duration.record(seconds, {"dag_id": dag_id, "outcome": outcome})
        for task_id, delay in event.task_scheduling_delays:
            self._task_delay.record(delay, {"dag_id": dag_id, "task_id": task_id})
        for task in event.synthesized_tasks:
            self._task(task)

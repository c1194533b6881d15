"""One short-lived "task process": records task telemetry like otel_listener does, then exits.

Run as ``python tests/stack/emit.py --dag-id D --task-id T [--outcome success] [--delay S]``.
It uses the OpenTelemetry SDK exactly as the contract says: DELTA temporality for every
instrument, OTLP http/protobuf to the Collector, the same resource in every process (no
per-process identity), the contract's histogram buckets. It adds 1 to
``airflow.task.outcomes``, records one ``airflow.task.duration``, +1/-1 on
``airflow.task.running`` and optional extra instruments, sleeps ``--delay`` seconds between
recording and the forced flush (so that concurrent processes flush in another order than they
started), then force-flushes and exits with 0 only if the export succeeded.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.version import __version__ as SDK_VERSION

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
DELTA = {
    kind: AggregationTemporality.DELTA
    for kind in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter, ObservableGauge)
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", default="http://127.0.0.1:4318/v1/metrics")
    p.add_argument("--dag-id", required=True)
    p.add_argument("--task-id", default="work")
    p.add_argument("--operator", default="PythonOperator")
    p.add_argument("--outcome", default="success")
    p.add_argument("--duration", type=float, default=1.5, help="recorded task duration, seconds")
    p.add_argument("--delay", type=float, default=0.0, help="sleep between recording and flush")
    p.add_argument("--dag-run-outcome", default=None, help="also count one DAG run with this outcome")
    p.add_argument("--scheduling-delay", type=float, default=None)
    p.add_argument("--listener", action="store_true", help="also record otel_listener.* instruments")
    p.add_argument("--instance-id", action="store_true", help="break the contract: add a random service.instance.id")
    args = p.parse_args(argv)

    resource = {
        "service.name": "airflow",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": SDK_VERSION,
    }
    if args.instance_id:
        resource["service.instance.id"] = str(uuid.uuid4())
    exporter = OTLPMetricExporter(endpoint=args.endpoint, preferred_temporality=DELTA, timeout=10)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        # Not Resource.create(): since SDK 1.3x it adds a random service.instance.id per process,
        # which the contract forbids (every task process must report the same streams).
        resource=Resource(resource),
        metric_readers=[reader],
        views=[
            View(instrument_name="*duration", aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS)),
            View(instrument_name="*delay", aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS)),
        ],
    )
    meter = provider.get_meter("otel_listener")
    task = {"dag_id": args.dag_id, "task_id": args.task_id}
    outcome = {**task, "operator": args.operator, "outcome": args.outcome}

    running = meter.create_up_down_counter("airflow.task.running", unit="{task}")
    running.add(1, task)
    meter.create_counter("airflow.task.outcomes", unit="{try}").add(1, outcome)
    meter.create_histogram("airflow.task.duration", unit="s").record(args.duration, outcome)
    if args.scheduling_delay is not None:
        meter.create_histogram("airflow.task.scheduling_delay", unit="s").record(args.scheduling_delay, task)
    if args.dag_run_outcome:
        meter.create_counter("airflow.dag_run.outcomes", unit="{run}").add(
            1, {"dag_id": args.dag_id, "outcome": args.dag_run_outcome, "run_type": "manual"}
        )
        meter.create_histogram("airflow.dag_run.duration", unit="s").record(
            args.duration * 2, {"dag_id": args.dag_id, "outcome": args.dag_run_outcome}
        )
        if args.scheduling_delay is not None:
            meter.create_histogram("airflow.dag_run.scheduling_delay", unit="s").record(
                args.scheduling_delay, {"dag_id": args.dag_id}
            )
    if args.listener:
        meter.create_counter("otel_listener.events", unit="{event}").add(3, {"event": "task_instance_success"})
        meter.create_counter("otel_listener.events.dropped", unit="{event}").add(1, {"reason": "queue_full"})
        meter.create_counter("otel_listener.sink.errors", unit="{error}").add(1, {"sink": "otlp"})
        meter.create_counter("otel_listener.hook.errors", unit="{error}").add(1, {"hook": "on_task_instance_failed"})
        meter.create_histogram("otel_listener.flush.duration", unit="s").record(0.05, {"outcome": "ok"})
    running.add(-1, task)

    time.sleep(args.delay)
    ok = provider.force_flush(timeout_millis=15_000)
    provider.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""End to end through the real stack, with synthetic telemetry from real short-lived processes.

Two waves of 20 separate Python processes (5 at a time, each flushing after a random delay, so
their requests reach the Collector in another order than their start times) each export DELTA
metrics for the *same* series, as Airflow task processes do. Prometheus must then show counts
that are exactly the number of processes; a trace must reach Jaeger with its parent links; a
failed DAG run must fire the alert and reach a webhook through Alertmanager; every panel of
every dashboard must return data.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stack.pystack import COLLECTOR_OTLP_HTTP_URL, Stack, http_get, wait_until
from stack.pytest_plugin import Webhook

REPO = Path(__file__).resolve().parents[2]
EMIT = Path(__file__).resolve().parent / "emit.py"
CONCURRENCY = 5

# One wave: (task_id, outcome, extra args) per process; 20 processes.
WAVE = (
    [("work", "success", ["--scheduling-delay", "1.5", "--listener"])] * 16
    + [("flaky", "retry", ["--scheduling-delay", "3"])] * 2
    + [("flaky", "failed", ["--dag-run-outcome", "failed", "--scheduling-delay", "2"])]
    + [("final", "success", ["--dag-run-outcome", "success", "--scheduling-delay", "0.5"])]
)


@dataclass
class Load:
    dag_id: str
    waves: int = 0
    totals: list[float] = field(default_factory=list)  # sum of the task counter after each wave
    histogram_counts: list[float] = field(default_factory=list)
    trace_id: str = ""
    span_ids: dict[str, str] = field(default_factory=dict)


def run_wave(dag_id: str, rng: random.Random) -> None:
    def one(spec: tuple[str, str, list[str]]) -> subprocess.CompletedProcess[str]:
        task_id, outcome, extra = spec
        argv = [
            sys.executable,
            str(EMIT),
            "--endpoint",
            COLLECTOR_OTLP_HTTP_URL + "/v1/metrics",
            "--dag-id",
            dag_id,
            "--task-id",
            task_id,
            "--outcome",
            outcome,
            "--duration",
            f"{rng.uniform(0.2, 40):.3f}",
            "--delay",
            f"{rng.uniform(0, 1.5):.3f}",
            *extra,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    specs = list(WAVE)
    rng.shuffle(specs)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = list(pool.map(one, specs))
    failed = [r for r in results if r.returncode != 0]
    assert not failed, f"{len(failed)} emitter processes failed: {failed[0].stderr[-2000:]}"


def send_trace(dag_id: str) -> tuple[str, dict[str, str]]:
    """One DAG-run span with two task spans under it, exported over OTLP/HTTP to the Collector."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource({"service.name": "airflow"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=COLLECTOR_OTLP_HTTP_URL + "/v1/traces")))
    tracer = provider.get_tracer("otel_listener")
    ids: dict[str, str] = {}
    with tracer.start_as_current_span(f"dag_run {dag_id}", attributes={"airflow.dag_id": dag_id}) as root:
        ids["root"] = format(root.get_span_context().span_id, "016x")
        for task in ("extract", "load"):
            with tracer.start_as_current_span(
                f"task {task}", attributes={"airflow.dag_id": dag_id, "airflow.task_id": task}
            ) as span:
                ids[task] = format(span.get_span_context().span_id, "016x")
                if task == "load":
                    span.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.force_flush()
    provider.shutdown()
    return trace_id, ids


@pytest.fixture(scope="module")
def load(stack: Stack) -> Load:
    dag_id = f"e2e_{uuid.uuid4().hex[:10]}"
    result = Load(dag_id)
    rng = random.Random(dag_id)
    total = f'sum(airflow_task_outcomes_total{{dag_id="{dag_id}"}})'
    hist = f'sum(airflow_task_duration_seconds_count{{dag_id="{dag_id}"}})'
    for wave in (1, 2):
        run_wave(dag_id, rng)
        expected = wave * len(WAVE)
        # wait until Prometheus has scraped the re-aggregated series ...
        wait_until(lambda e=expected: (stack.prom_value(total) or 0) >= e, 60, 0.5, f"{total} >= {expected}")
        # ... then let a few more scrapes (2 s apart) happen, to catch late or double counts
        time.sleep(5)
        result.totals.append(stack.prom_value(total) or 0)
        result.histogram_counts.append(stack.prom_value(hist) or 0)
        result.waves = wave
    result.trace_id, result.span_ids = send_trace(dag_id)
    return result


def test_counter_increases_by_exactly_the_number_of_processes(stack: Stack, load: Load) -> None:
    n = len(WAVE)
    assert load.totals == [n, 2 * n]
    assert load.histogram_counts == [n, 2 * n]
    per_series = {
        (s["metric"]["task_id"], s["metric"]["outcome"]): float(s["value"][1])
        for s in stack.prom_query(f'airflow_task_outcomes_total{{dag_id="{load.dag_id}"}}')
    }
    expected = Counter((task, outcome) for task, outcome, _ in WAVE)
    assert per_series == {key: 2.0 * count for key, count in expected.items()}
    # one series per (task, outcome): no per-process identity leaked into the labels (the
    # instance label is the scrape target's, job the senders' service.name)
    series = stack.prom_query(f'airflow_task_outcomes_total{{dag_id="{load.dag_id}"}}')
    assert {(s["metric"]["job"], s["metric"]["instance"]) for s in series} == {("airflow", "127.0.0.1:8889")}
    runs = stack.prom_query(f'airflow_dag_run_outcomes_total{{dag_id="{load.dag_id}"}}')
    assert {s["metric"]["outcome"]: float(s["value"][1]) for s in runs} == {"failed": 2.0, "success": 2.0}
    running = stack.prom_value(f'sum(airflow_task_running{{dag_id="{load.dag_id}"}})')
    assert running == 0.0
    # and the Collector rejected no delta point
    rejected = stack.prom_query('otelcol_deltatocumulative_datapoints{error!=""}')
    assert all(float(s["value"][1]) == 0 for s in rejected), rejected


def test_histogram_buckets_are_exact(stack: Stack, load: Load) -> None:
    buckets = stack.prom_query(
        f'sum by (le) (airflow_task_duration_seconds_bucket{{dag_id="{load.dag_id}",le="+Inf"}})'
    )
    assert float(buckets[0]["value"][1]) == 2 * len(WAVE)
    delay = stack.prom_value(f'sum(airflow_task_scheduling_delay_seconds_count{{dag_id="{load.dag_id}"}})')
    assert delay == 2 * len(WAVE)


def test_trace_reaches_jaeger_with_parent_links(stack: Stack, load: Load) -> None:
    spans = wait_until(
        lambda: (s := stack.jaeger_trace(load.trace_id)) and len(s) == 3 and s,
        60,
        0.5,
        f"trace {load.trace_id} with 3 spans in Jaeger",
    )
    by_id = {s["spanID"]: s for s in spans}
    root = by_id[load.span_ids["root"]]
    assert root["operationName"] == f"dag_run {load.dag_id}"
    assert not root.get("references")
    for task in ("extract", "load"):
        span = by_id[load.span_ids[task]]
        assert span["operationName"] == f"task {task}"
        assert span["references"] == [
            {"refType": "CHILD_OF", "traceID": load.trace_id, "spanID": load.span_ids["root"]}
        ]
    tags = {t["key"]: t["value"] for t in by_id[load.span_ids["load"]]["tags"]}
    assert tags.get("error") is True
    # Jaeger does not trace itself into the pipeline (that would pollute spanmetrics)
    _, body = http_get(stack.urls["jaeger"] + "/api/services")
    assert json.loads(body)["data"] == ["airflow"]


def test_failed_dag_run_fires_alert_and_reaches_the_webhook(stack: Stack, load: Load, webhook: Webhook) -> None:
    def firing_in_prometheus() -> bool:
        code_alerts = stack.prom_query('ALERTS{alertname="AirflowDagRunFailed",alertstate="firing"}')
        return any(a["metric"].get("dag_id") == load.dag_id for a in code_alerts)

    wait_until(firing_in_prometheus, 90, 1, "AirflowDagRunFailed firing in Prometheus")

    def delivered() -> list[dict]:
        return [
            a
            for a in webhook.alerts()
            if a["labels"].get("alertname") == "AirflowDagRunFailed" and a["labels"].get("dag_id") == load.dag_id
        ]

    alerts = wait_until(delivered, 120, 1, "AirflowDagRunFailed delivered to the webhook by Alertmanager")
    alert = alerts[0]
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["runbook_url"].endswith("#airflowdagrunfailed")
    assert alert["annotations"]["summary"] == f"DAG {load.dag_id}: 2 failed run(s) in the last 15 minutes" or (
        alert["annotations"]["summary"] == f"DAG {load.dag_id}: 1 failed run(s) in the last 15 minutes"
    )


def test_every_dashboard_panel_returns_data(stack: Stack, load: Load) -> None:
    from test_stack_dashboards import panel_queries

    # spanmetrics flushes every 5 s: make sure the trace's span metrics are in before asserting
    queries = [
        (board, title, expr.replace("${dag_id}", load.dag_id).replace("$dag_id", load.dag_id))
        for board, title, expr in panel_queries()
    ]
    assert len(queries) > 20
    missing: dict[str, str] = {}

    def all_have_data() -> bool:
        missing.clear()
        for board, title, expr in queries:
            result = stack.prom_query(expr)
            values = [float(s["value"][1]) for s in result]
            if not any(math.isfinite(v) for v in values):
                missing[f"{board} / {title}"] = f"{expr} -> {json.dumps(result)[:200]}"
        return not missing

    try:
        wait_until(all_have_data, 90, 2, "every dashboard query to return data")
    except Exception:
        pytest.fail("panels without data:\n" + "\n".join(f"{k}: {v}" for k, v in missing.items()))

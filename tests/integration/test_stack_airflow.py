"""End to end with everything real: Airflow (scheduler, dag-processor, api-server, LocalExecutor)
-> our Collector -> Jaeger and Prometheus -> Alertmanager -> a webhook.

What users look at must be right: the trace in Jaeger, exact counts in Prometheus although
every try ran in its own short-lived process (several at once), the dashboards' queries, and
the failure alert delivered.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from integration.jaeger import jaeger_trace
from integration.shape import assert_otel_shape_trace, expected_outcome_counts
from otel_listener import ids
from otel_listener.events import RunRef
from otel_listener.testing.cluster import AirflowHome, Cluster
from stack.pystack import dashboard_queries, wait_until

DAGS = Path(__file__).resolve().parents[1] / "dags"
CONCURRENT_RUNS = 6


@pytest.fixture(scope="module")
def airflow_runs(stack):
    """One otel_shape run and several otel_simple runs at once, all finished."""
    home = AirflowHome(
        Path(tempfile.mkdtemp(prefix="otel-stack-e2e-")),
        DAGS,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "2",
        },
    )
    home.migrate()
    with Cluster(home) as cluster:
        for dag_id in ("otel_shape", "otel_simple"):
            cluster.wait_for_dag(dag_id)
        shape_run = cluster.trigger("otel_shape")
        # Two waves, so that rates over the dashboards' windows see the counters grow.
        simple_runs, states = [], []
        for _wave in range(2):
            wave = [cluster.trigger("otel_simple") for _ in range(CONCURRENT_RUNS // 2)]
            states += [cluster.wait_for_run("otel_simple", r) for r in wave]
            simple_runs += wave
        shape_state = cluster.wait_for_run("otel_shape", shape_run)
    assert states == ["success"] * CONCURRENT_RUNS and shape_state == "failed"
    return shape_run, simple_runs


def trace_with(trace_id: str, count: int):
    """The trace's spans once Jaeger has at least ``count`` of them, else ``None``."""
    spans = jaeger_trace(trace_id)
    return spans if len(spans) >= count else None


def test_jaeger_shows_one_trace_per_run_with_every_try(stack, airflow_runs):
    shape_run, simple_runs = airflow_runs
    trace_id = f"{ids.trace_id_for(RunRef('otel_shape', shape_run, 0)):032x}"
    expected = 1 + len(expected_outcome_counts()) + 2
    spans = wait_until(lambda: trace_with(trace_id, expected), 60, 1, trace_id)
    assert_otel_shape_trace(spans, shape_run, task_role="task", run_role="scheduler", tolerance_ns=2000)
    for run_id in simple_runs:
        trace_id = f"{ids.trace_id_for(RunRef('otel_simple', run_id, 0)):032x}"
        trace = wait_until(lambda t=trace_id: trace_with(t, 3), 60, 1, trace_id)
        (root,) = [s for s in trace if s.name == "dag_run otel_simple"]
        assert all(s.parent_span_id == root.span_id for s in trace if s is not root)


def test_prometheus_counts_are_exact_across_short_lived_processes(stack, airflow_runs):
    def total(expr: str) -> float:
        return stack.prom_value(expr) or 0.0

    wait_until(
        lambda: total('sum(airflow_task_outcomes_total{dag_id="otel_simple"})') == 2 * CONCURRENT_RUNS,
        60,
        1,
        "otel_simple task counts",
    )
    wait_until(
        lambda: total('sum(airflow_dag_run_outcomes_total{dag_id="otel_simple",outcome="success"})') == CONCURRENT_RUNS,
        60,
        1,
        "otel_simple run counts",
    )
    for (task_id, outcome), n in expected_outcome_counts().items():
        expr = f'sum(airflow_task_outcomes_total{{dag_id="otel_shape",task_id="{task_id}",outcome="{outcome}"}})'
        wait_until(lambda e=expr, n=n: total(e) == n, 60, 1, expr)
    assert total('sum(airflow_task_duration_seconds_count{dag_id="otel_simple"})') == 2 * CONCURRENT_RUNS
    assert total('sum(airflow_task_running{dag_id="otel_simple"})') == 0
    assert total("sum(otel_listener_hook_errors_total)") == 0


def test_failed_run_fires_the_alert_and_reaches_the_webhook(stack, webhook, airflow_runs):
    def delivered():
        return [
            alert
            for payload in webhook.payloads
            for alert in payload.get("alerts", [])
            if alert["labels"].get("alertname") == "AirflowDagRunFailed"
            and alert["labels"].get("dag_id") == "otel_shape"
        ]

    alerts = wait_until(delivered, 150, 1, "AirflowDagRunFailed for otel_shape at the webhook")
    assert alerts[0]["status"] == "firing"
    assert alerts[0]["labels"]["severity"]


def test_every_dashboard_query_has_data_for_a_real_dag(stack, airflow_runs):
    queries = [
        (board, title, expr.replace("${dag_id}", "otel_simple").replace("$dag_id", "otel_simple"))
        for board, title, expr in dashboard_queries()
    ]
    missing: list[str] = []

    def all_have_data() -> bool:
        missing.clear()
        for board, title, expr in queries:
            values = [float(s["value"][1]) for s in stack.prom_query(expr)]
            if not any(math.isfinite(v) for v in values):
                missing.append(f"{board} / {title}: {expr}")
        return not missing

    try:
        wait_until(all_have_data, 90, 2, "every dashboard query to return data")
    except Exception:
        pytest.fail("panels without data:\n" + "\n".join(missing))

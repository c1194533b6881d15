"""`make demo`: the local stack, real Airflow with the plugin, the example DAGs, and where to look.

Steps (each printed as it happens):
1. start the stack (Collector, Jaeger, Prometheus, Alertmanager; built on first use),
2. create a fresh Airflow home in .airflow-demo/ and start scheduler, dag-processor and
   api-server (LocalExecutor) with the plugin exporting to the Collector,
3. trigger every example DAG in dags/ plus a pipeline with retries, a failure, a skip and a
   mapped task, and wait for them,
4. print the run's trace tree from Jaeger, counts from Prometheus, the alert state, and URLs.
Airflow is stopped at the end; the stack stays up for you to explore (`make stack-down`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otel_listener import ids  # noqa: E402
from otel_listener.events import RunRef  # noqa: E402
from otel_listener.testing.cluster import AirflowHome, Cluster  # noqa: E402
from stack.pystack import JAEGER_URL, PROMETHEUS_URL, Stack, wait_until  # noqa: E402

DEMO_HOME = REPO / ".airflow-demo"
SHOWCASE = REPO / "tests" / "dags" / "otel_shape_dag.py"


def step(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_dags() -> tuple[Path, list[str]]:
    """dags/ examples plus the showcase pipeline, in one folder of the demo home."""
    folder = DEMO_HOME / "dags"
    folder.mkdir(parents=True)
    for source in [*sorted((REPO / "dags").glob("*.py")), SHOWCASE]:
        shutil.copy(source, folder / source.name)
    dag_ids = [p.stem for p in sorted((REPO / "dags").glob("52_*.py"))]
    return folder, ["otel_shape", *dag_ids]


def print_trace(stack: Stack, dag_id: str, run_id: str) -> str:
    """The run's trace as Jaeger returns it, as an indented tree."""
    trace_id = f"{ids.trace_id_for(RunRef(dag_id, run_id, 0)):032x}"
    spans = wait_until(lambda: stack.jaeger_trace(trace_id) or None, 60, 1, f"trace {trace_id} in Jaeger")

    def tags(span: dict) -> dict:
        return {t["key"]: t["value"] for t in span["tags"]}

    root = next(s for s in spans if not s.get("references"))
    status = "ERROR" if tags(root).get("otel.status_code") == "ERROR" else "ok"
    print(f"\n  trace {trace_id} ({len(spans)} spans) in Jaeger:")
    print(f"  {root['operationName']}  {root['duration'] / 1e6:.2f}s  {status}")
    for span in sorted((s for s in spans if s is not root), key=lambda s: s["startTime"]):
        a = tags(span)
        name = span["operationName"]
        if a.get("airflow.map_index", -1) >= 0:
            name += f"[{a['airflow.map_index']}]"
        synthesized = "  (synthesized by the scheduler)" if a.get("airflow.task.synthesized") else ""
        print(
            f"    └─ {name:<22} try {a.get('airflow.try_number')}  {a.get('airflow.task.outcome', ''):<16}"
            f" {span['duration'] / 1e6:6.2f}s{synthesized}"
        )
    return trace_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-airflow", action="store_true", help="leave Airflow running (Ctrl-C stops it)")
    args = parser.parse_args()

    step("starting the stack (the first run builds the Collector and Jaeger: several minutes)")
    stack = Stack()
    stack.up()
    step("stack healthy: Collector :4318, Jaeger :16686, Prometheus :9090, Alertmanager :9093")

    if DEMO_HOME.exists():
        shutil.rmtree(DEMO_HOME)
    DEMO_HOME.mkdir()
    dags_folder, dag_ids = prepare_dags()
    home = AirflowHome(
        DEMO_HOME,
        dags_folder,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "2",
        },
    )
    step(f"creating Airflow home {DEMO_HOME.relative_to(REPO)} (airflow db migrate)")
    home.migrate()
    cluster = Cluster(home)
    step("starting Airflow: api-server, dag-processor, scheduler (LocalExecutor)")
    cluster.start()
    try:
        runs: dict[str, str] = {}
        for dag_id in dag_ids:
            cluster.wait_for_dag(dag_id)
            runs[dag_id] = cluster.trigger(dag_id)
        step(f"triggered {len(runs)} DAG runs; waiting for them")
        for n, (dag_id, run_id) in enumerate(runs.items(), 1):
            state = cluster.wait_for_run(dag_id, run_id, timeout=300)
            step(f"  [{n}/{len(runs)}] {dag_id}: {state}")
        if args.keep_airflow:
            step(f"Airflow UI/API: http://127.0.0.1:{home.api_port} (Ctrl-C to stop)")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        step("stopping Airflow")
        cluster.stop()

    trace_id = print_trace(stack, "otel_shape", runs["otel_shape"])
    print("\n  Prometheus (exact counts across short-lived task processes):")
    for expr in (
        'sum by (outcome) (airflow_task_outcomes_total{dag_id="otel_shape"})',
        "sum by (outcome) (airflow_dag_run_outcomes_total)",
    ):
        wait_until(lambda e=expr: stack.prom_query(e), 60, 1, expr)
        values = {s["metric"].get("outcome"): float(s["value"][1]) for s in stack.prom_query(expr)}
        print(f"    {expr}\n      = {values}")
    step("waiting for the AirflowDagRunFailed alert (otel_shape failed on purpose)")
    try:
        wait_until(
            lambda: stack.prom_query('ALERTS{alertname="AirflowDagRunFailed",alertstate="firing"}'), 120, 2, "alert"
        )
        print("    AirflowDagRunFailed is firing (Prometheus -> Alertmanager)")
    except Exception as exc:  # the summary is still useful without it
        print(f"    alert not firing yet: {exc}")
    print(
        f"""
  Where to look:
    Jaeger trace (API):  {JAEGER_URL}/api/traces/{trace_id}
    Jaeger UI:           {JAEGER_URL}/trace/{trace_id}  (full UI with docker-compose: see README)
    Prometheus:          {PROMETHEUS_URL}/graph?g0.expr=sum%20by%20(dag_id%2C%20outcome)%20(airflow_task_outcomes_total)
    Alerts:              {PROMETHEUS_URL}/alerts   and Alertmanager http://127.0.0.1:9093
    Grafana dashboards:  grafana/dashboards/*.json (provisioned by docker-compose.yml)
    Airflow logs:        {DEMO_HOME.relative_to(REPO)}/logs
  The stack keeps running: `make stack-down` stops it.
"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

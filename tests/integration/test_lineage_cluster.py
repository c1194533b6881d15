"""OpenLineage through the production path: scheduler + dag-processor + api-server, LocalExecutor.

The openlineage http transport (configured the standard way, ``OPENLINEAGE_URL``) posts to a
real local HTTP endpoint; spans go to a local OTLP receiver. Every event is validated against
the official OpenLineage schemas and our facet against our own schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from lineage_support import LineageBackend, assert_valid
from otlp_receiver import Receiver

from integration.shape import spans_of_run
from otel_listener.testing.cluster import AirflowHome, Cluster

DAGS = Path(__file__).resolve().parents[1] / "dags"
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
ASSET = ("file", "/tmp/otel_shape_asset.txt")


@pytest.fixture(scope="module")
def live():
    receiver = Receiver().start()
    backend = LineageBackend().start()
    path = Path(tempfile.mkdtemp(prefix="otel-lineage-"))
    home = AirflowHome(
        path,
        DAGS,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "1",
            "AIRFLOW__OTEL_LISTENER__STATE_DIR": str(path / "state"),
            "OPENLINEAGE_URL": backend.url,
            "AIRFLOW__OTEL_LISTENER__LINEAGE_NAMESPACE": "test-airflow",
        },
    )
    home.migrate()
    cluster = Cluster(home).start()
    try:
        for dag_id in ("otel_shape", "otel_consumer", "otel_simple"):
            cluster.wait_for_dag(dag_id)
        yield cluster, receiver, backend
    finally:
        cluster.stop()
        backend.stop()
        receiver.stop()


def of_run(events: list[dict], dag_id: str, run_id: str) -> list[dict]:
    return [
        e
        for e in events
        if e["run"]["facets"]["otelListener"]["airflow"]["dagId"] == dag_id
        and e["run"]["facets"]["otelListener"]["airflow"]["runId"] == run_id
    ]


def task_key(event: dict) -> tuple:
    a = event["run"]["facets"]["otelListener"]["airflow"]
    return a.get("taskId"), a.get("mapIndex"), a.get("tryNumber")


def test_shape_run_events_pairs_parents_trace_ids_and_asset_link(live):
    cluster, receiver, backend = live
    run_id = cluster.trigger("otel_shape")
    assert cluster.wait_for_run("otel_shape", run_id) == "failed"
    # 8 tries ran (START + end each), 2 were decided by the scheduler (ABORT only), plus DAG START/FAIL.
    assert backend.wait_for(lambda ev: len(of_run(ev, "otel_shape", run_id)) == 8 * 2 + 2 + 2, 90)
    events = of_run(backend.events, "otel_shape", run_id)
    for event in events:
        assert_valid(event)

    dag = [e for e in events if e["job"]["name"] == "otel_shape"]
    tasks = [e for e in events if e["job"]["name"] != "otel_shape"]
    assert [e["eventType"] for e in dag] == ["START", "FAIL"]
    assert all(e["job"]["namespace"] == "test-airflow" for e in events)
    (dag_run_id,) = {e["run"]["runId"] for e in dag}
    assert "parent" not in dag[0]["run"]["facets"]

    # START/end pairs match by runId; every try has exactly one end.
    by_run: dict[str, list[str]] = defaultdict(list)
    for e in tasks:
        by_run[e["run"]["runId"]].append(e["eventType"])
    for types in by_run.values():
        assert Counter(types) in (Counter({"START": 1, types[-1]: 1}), Counter({"ABORT": 1})), types
        assert sum(t in TERMINAL for t in types) == 1
    ends = {task_key(e): e["eventType"] for e in tasks if e["eventType"] in TERMINAL}
    assert ends == {
        ("ok", -1, 1): "COMPLETE",
        ("flaky", -1, 1): "FAIL",
        ("flaky", -1, 2): "FAIL",
        ("after_flaky", -1, 0): "ABORT",
        ("skipper", -1, 1): "ABORT",
        ("after_skip", -1, 0): "ABORT",
        ("square", 0, 1): "COMPLETE",
        ("square", 1, 1): "COMPLETE",
        ("square", 2, 1): "COMPLETE",
        ("produce", -1, 1): "COMPLETE",
    }
    assert len(by_run) == 10, "distinct runIds per try and per map index"
    flaky = [e for e in tasks if task_key(e)[0] == "flaky" and e["eventType"] == "FAIL"]
    assert all("ValueError: flaky task always fails" in e["run"]["facets"]["errorMessage"]["message"] for e in flaky)
    assert all("raise ValueError" in e["run"]["facets"]["errorMessage"]["stackTrace"] for e in flaky)
    for e in tasks:
        parent = e["run"]["facets"]["parent"]
        assert (parent["job"]["name"], parent["run"]["runId"]) == ("otel_shape", dag_run_id)
        assert parent["root"]["run"]["runId"] == dag_run_id
        assert e["job"]["name"] == f"otel_shape.{task_key(e)[0]}"
        assert e["job"]["facets"]["jobType"]["jobType"] == "TASK"
    for runid, types in by_run.items():
        if "START" in types:
            start, end = (next(e for e in tasks if e["run"]["runId"] == runid and e["eventType"] == t) for t in types)
            assert start["eventTime"] <= end["eventTime"]
    assert dag[0]["job"]["facets"]["ownership"]["owners"][0]["name"] == "data-platform"
    assert dag[0]["job"]["facets"]["tags"]["tags"][0]["key"] == "otel-listener-test"

    # Trace correlation: our facet names the very span of the same try / run.
    assert receiver.wait_for(lambda r: len(spans_of_run(r.spans, "otel_shape", run_id)) == 11, 60)
    spans = spans_of_run(receiver.spans, "otel_shape", run_id)
    span_ids = {
        (
            s.attributes.get("airflow.task_id"),
            s.attributes.get("airflow.map_index"),
            s.attributes.get("airflow.try_number"),
        ): (
            s.trace_id,
            s.span_id,
        )
        for s in spans
    }
    root = next(s for s in spans if s.name == "dag_run otel_shape")
    for e in dag:
        otel = e["run"]["facets"]["otelListener"]
        assert (otel["traceId"], otel["spanId"]) == (root.trace_id, root.span_id)
    for e in tasks:
        otel = e["run"]["facets"]["otelListener"]
        assert (otel["traceId"], otel["spanId"]) == span_ids[task_key(e)], task_key(e)

    # The asset links producer output to consumer input.
    (produced,) = [e for e in tasks if task_key(e)[0] == "produce" and e["eventType"] == "COMPLETE"]
    assert ASSET in {(o["namespace"], o["name"]) for o in produced["outputs"]}

    def consumer_end(ev: list[dict]) -> list[dict]:
        return [
            e
            for e in ev
            if e["job"]["name"] == "otel_consumer"
            and e["eventType"] == "COMPLETE"
            and ASSET in {(i["namespace"], i["name"]) for i in e.get("inputs", [])}
        ]

    assert backend.wait_for(lambda ev: len(consumer_end(ev)) >= 1, 120)
    for e in consumer_end(backend.events):
        assert_valid(e)


def test_backend_down_spools_then_replay_delivers_each_once_in_order(live):
    cluster, _receiver, backend = live
    spool = cluster.home.path / "state" / "lineage-spool"
    backend.stop()
    try:
        run_id = cluster.trigger("otel_simple")
        assert cluster.wait_for_run("otel_simple", run_id) == "success", "tasks are unaffected"
        states = cluster.home.query("SELECT task_id, state FROM task_instance WHERE run_id = ?", run_id)
        assert sorted(states) == [("hello", "success"), ("world", "success")]

        def spooled() -> list[dict]:
            return [json.loads(p.read_text()) for p in sorted(spool.glob("*.json"))]

        deadline = time.monotonic() + 30
        while len(of_run(spooled(), "otel_simple", run_id)) < 6 and time.monotonic() < deadline:
            time.sleep(0.5)
        held = of_run(spooled(), "otel_simple", run_id)
        assert len(held) == 6  # DAG START/COMPLETE, START/COMPLETE per task
        assert of_run(backend.events, "otel_simple", run_id) == []
    finally:
        backend.start()  # the same port
    result = subprocess.run(
        [str(Path(sys.executable).with_name("otel-listener")), "lineage", "replay", "--timeout", "60"],
        env=cluster.home.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # the scheduler's own retry may have been first
    assert backend.wait_for(lambda ev: len(of_run(ev, "otel_simple", run_id)) >= 6, 30)
    delivered = of_run(backend.events, "otel_simple", run_id)
    assert sorted(map(json.dumps, delivered)) == sorted(map(json.dumps, held)), "each exactly once"
    order = [(e["job"]["name"], e["eventType"]) for e in delivered]
    assert order[0] == ("otel_simple", "START") and order[-1] == ("otel_simple", "COMPLETE")
    assert order.index(("otel_simple.hello", "START")) < order.index(("otel_simple.hello", "COMPLETE"))
    assert order.index(("otel_simple.hello", "COMPLETE")) < order.index(("otel_simple.world", "START"))
    assert list(spool.glob("*.json")) == []

"""Fault injection under real Airflow (the in-process variants are in tests/unit/test_faults.py;
a refused and a black-holed collector are in test_dead_collector.py).

One cluster for the module: a task process SIGKILLed while its telemetry export is in flight,
and a scheduler restarted in the middle of a run. Then ``airflow dags test`` with corrupt
configuration. For each: the run ends in the state it has without the listener, the scheduler
keeps scheduling, and the listener says what happened without failing anything.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from otlp_receiver import Receiver

from integration.shape import spans_of_run
from otel_listener.testing.cluster import Cluster, running_cluster

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def live():
    receiver = Receiver().start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "1",
        "AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT": "1",
    }
    try:
        with running_cluster(DAGS, env, ("otel_killed", "otel_simple", "otel_slow"), "otel-faults-") as cluster:
            yield cluster, receiver
    finally:
        receiver.stop()


def wait_for_state(cluster: Cluster, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.home.query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ?", dag_id, run_id, task_id
        )
        if rows and rows[0][0] == state:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{task_id} never reached {state}")


def test_task_process_killed_while_its_export_is_in_flight(live):
    cluster, receiver = live
    receiver.mode, receiver.delay = "slow", 3.0  # the try's start export is still waiting when the kill comes
    try:
        run_id = cluster.trigger("otel_killed")
        assert cluster.wait_for_run("otel_killed", run_id, timeout=180) == "failed"  # as without the listener
    finally:
        receiver.mode = "ok"
    assert receiver.requests > 0
    # the scheduler goes on scheduling
    next_run = cluster.trigger("otel_simple")
    assert cluster.wait_for_run("otel_simple", next_run, timeout=180) == "success"
    # and the killed try is still reported, from its left-over in-flight marker
    assert receiver.wait_for(
        lambda r: any(s.attributes.get("airflow.task.killed") for s in spans_of_run(r.spans, "otel_killed", run_id)),
        timeout=60,
    )


def test_scheduler_restarted_in_the_middle_of_a_run(live):
    cluster, receiver = live
    run_id = cluster.trigger("otel_slow")
    wait_for_state(cluster, "otel_slow", run_id, "slow", "running")
    cluster.restart("scheduler")
    assert cluster.wait_for_run("otel_slow", run_id, timeout=240) == "success"
    assert receiver.wait_for(
        lambda r: [s.name for s in spans_of_run(r.spans, "otel_slow", run_id)].count("dag_run otel_slow") == 1,
        timeout=60,
    )
    names = [s.name for s in spans_of_run(receiver.spans, "otel_slow", run_id)]
    assert "task after" in names and "task slow" in names, names
    log = (cluster.home.path / "logs" / "scheduler.out").read_text(errors="replace")
    assert "otel_listener: hook" not in log  # no hook failed in either scheduler


def test_corrupt_configuration_under_dags_test(make_home, receiver):
    home = make_home(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT="a while",
        AIRFLOW__OTEL_LISTENER__QUEUE_SIZE="-1",
        AIRFLOW__OTEL_LISTENER__TRACES_ENABLED="perhaps",
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="carrier-pigeon",
    )
    result = home.airflow("dags", "test", "otel_simple")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "DagRun Finished" in output and "state=success" in output  # as without the listener
    for problem in ("FLUSH_TIMEOUT='a while' is invalid", "QUEUE_SIZE='-1' is invalid", "TRACES_ENABLED='perhaps'"):
        assert output.count(problem) == 1, problem  # said once, not once per task
    assert output.count("metrics sink disabled in this process") == 1
    assert receiver.spans == []  # an unreadable switch is off, not on

"""The production path: scheduler + dag-processor + api-server with the LocalExecutor.

Task spans come from separate task processes, the DAG-run span and the synthesized spans from
the scheduler; they must still form one trace per run, and counts must be exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from otlp_receiver import Receiver

from integration.shape import assert_otel_shape_trace, expected_outcome_counts, spans_of_run
from otel_listener import ids
from otel_listener.events import RunRef
from otel_listener.testing.cluster import running_cluster

DAGS = Path(__file__).resolve().parents[1] / "dags"
EXTERNAL = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def live():
    receiver = Receiver().start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    try:
        with running_cluster(DAGS, env, ("otel_shape", "otel_consumer", "otel_simple")) as cluster:
            yield cluster, receiver
    finally:
        receiver.stop()


def root_of(receiver: Receiver, dag_id: str, run_id: str):
    return [s for s in spans_of_run(receiver.spans, dag_id, run_id) if s.name == f"dag_run {dag_id}"]


def test_one_trace_per_run_across_processes_and_exact_counts(live):
    cluster, receiver = live
    run_id = cluster.trigger("otel_shape")
    assert cluster.wait_for_run("otel_shape", run_id) == "failed"
    assert receiver.wait_for(lambda r: len(root_of(r, "otel_shape", run_id)) == 1, 60)
    assert receiver.wait_for(
        lambda r: len(spans_of_run(r.spans, "otel_shape", run_id)) == 1 + len(expected_outcome_counts()) + 2, 30
    )
    assert_otel_shape_trace(receiver.spans, run_id, task_role="task", run_role="scheduler")
    (root,) = root_of(receiver, "otel_shape", run_id)
    assert root.trace_id == f"{ids.trace_id_for(RunRef('otel_shape', run_id, 0)):032x}"
    # Counts: every try counted exactly once although each came from its own short-lived process.
    expected = expected_outcome_counts()
    assert receiver.wait_for(
        lambda r: r.metric_sum("airflow.task.outcomes", dag_id="otel_shape") == sum(expected.values()), 60
    )
    for (task_id, outcome), n in expected.items():
        assert receiver.metric_sum("airflow.task.outcomes", task_id=task_id, outcome=outcome) == n, (task_id, outcome)
    assert receiver.wait_for(
        lambda r: r.metric_sum("airflow.dag_run.outcomes", dag_id="otel_shape", outcome="failed") == 1, 30
    )
    assert receiver.histogram_count("airflow.task.scheduling_delay", dag_id="otel_shape") >= 7
    assert receiver.metric_sum("airflow.task.running", dag_id="otel_shape") == 0
    assert receiver.metric_sum("otel_listener.hook.errors") == 0


def test_asset_triggered_run_links_to_the_producing_run(live):
    cluster, receiver = live
    producer_run = cluster.trigger("otel_shape")
    cluster.wait_for_run("otel_shape", producer_run)

    def consumer_root(r):
        return [
            s
            for s in r.spans
            if s.name == "dag_run otel_consumer" and any(link["airflow.run_id"] == producer_run for link in s.links)
        ]

    assert receiver.wait_for(lambda r: len(consumer_root(r)) == 1, 120)
    assert receiver.wait_for(lambda r: len(root_of(r, "otel_shape", producer_run)) == 1, 60)
    (consumer,) = consumer_root(receiver)
    (producer,) = root_of(receiver, "otel_shape", producer_run)
    link = next(link for link in consumer.links if link["airflow.run_id"] == producer_run)
    assert (link["trace_id"], link["span_id"]) == (producer.trace_id, producer.span_id)
    assert consumer.attributes["airflow.run_type"] == "asset_triggered"


def test_run_with_traceparent_joins_the_external_trace(live):
    cluster, receiver = live
    run_id = cluster.trigger("otel_simple", conf=json.dumps({"traceparent": EXTERNAL}))
    assert cluster.wait_for_run("otel_simple", run_id) == "success"
    assert receiver.wait_for(lambda r: len(spans_of_run(r.spans, "otel_simple", run_id)) == 3, 60)
    spans = spans_of_run(receiver.spans, "otel_simple", run_id)
    assert {s.trace_id for s in spans} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    (root,) = [s for s in spans if s.name == "dag_run otel_simple"]
    assert root.parent_span_id == "00f067aa0ba902b7"
    assert all(s.parent_span_id == root.span_id for s in spans if s is not root)


def test_cleared_run_gets_a_new_trace(live):
    cluster, receiver = live
    run_id = cluster.trigger("otel_simple")
    assert cluster.wait_for_run("otel_simple", run_id) == "success"
    assert receiver.wait_for(lambda r: len(root_of(r, "otel_simple", run_id)) == 1, 60)
    cluster.clear("otel_simple", run_id, "world")
    assert receiver.wait_for(lambda r: len(root_of(r, "otel_simple", run_id)) == 2, 120)
    first, second = sorted(
        root_of(receiver, "otel_simple", run_id), key=lambda s: s.attributes["airflow.dag_run.clear_number"]
    )
    assert (first.attributes["airflow.dag_run.clear_number"], second.attributes["airflow.dag_run.clear_number"]) == (
        0,
        1,
    )
    assert first.trace_id != second.trace_id
    rerun = [s for s in receiver.spans if s.trace_id == second.trace_id and s.name == "task world"]
    assert len(rerun) == 1 and rerun[0].parent_span_id == second.span_id
    assert rerun[0].attributes["airflow.try_number"] == 2


def test_killed_task_gets_a_span_from_its_left_over_marker(live):
    cluster, receiver = live
    cluster.wait_for_dag("otel_killed")
    run_id = cluster.trigger("otel_killed")
    assert cluster.wait_for_run("otel_killed", run_id) == "failed"
    assert receiver.wait_for(lambda r: len(spans_of_run(r.spans, "otel_killed", run_id)) == 2, 60)
    (victim,) = [s for s in spans_of_run(receiver.spans, "otel_killed", run_id) if s.name == "task victim"]
    assert victim.attributes["airflow.task.killed"] is True
    assert victim.attributes["airflow.task.synthesized"] is True
    assert victim.attributes["airflow.try_number"] == 1
    assert victim.status_code == 2 and victim.events[0]["exception.type"] == "TaskKilled"
    (root,) = root_of(receiver, "otel_killed", run_id)
    assert victim.parent_span_id == root.span_id and victim.start_ns < victim.end_ns
    assert receiver.wait_for(
        lambda r: r.metric_sum("airflow.task.outcomes", dag_id="otel_killed", outcome="failed") == 1, 30
    )
    assert receiver.wait_for(lambda r: r.metric_sum("airflow.task.running", dag_id="otel_killed") == 0, 30)


def test_states_set_by_hand_become_their_own_spans_in_the_run_trace(live):
    cluster, receiver = live
    run_id = cluster.trigger("otel_simple")
    assert cluster.wait_for_run("otel_simple", run_id) == "success"
    assert receiver.wait_for(lambda r: len(spans_of_run(r.spans, "otel_simple", run_id)) == 3, 60)
    cluster.api("PATCH", f"dags/otel_simple/dagRuns/{run_id}/taskInstances/world", {"new_state": "failed"})
    cluster.api("PATCH", f"dags/otel_simple/dagRuns/{run_id}", {"state": "failed"})
    assert receiver.wait_for(lambda r: len(spans_of_run(r.spans, "otel_simple", run_id)) == 5, 60)
    spans = spans_of_run(receiver.spans, "otel_simple", run_id)
    (root,) = root_of(receiver, "otel_simple", run_id)
    manual = [s for s in spans if s.name.startswith("manual_state_change")]
    assert sorted(s.name for s in manual) == ["manual_state_change dag_run otel_simple", "manual_state_change world"]
    assert all(s.parent_span_id == root.span_id and s.trace_id == root.trace_id for s in manual)
    assert all(s.attributes["airflow.process.role"] == "api-server" for s in manual)
    assert len({s.span_id for s in spans}) == len(spans)  # no second root, no reused try span
    # Tries are not re-counted for a state set by hand.
    assert receiver.metric_sum("airflow.task.outcomes", dag_id="otel_simple", task_id="world", outcome="failed") == 0

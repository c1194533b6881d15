"""A dead collector never fails or stalls a task: refused connections and a black hole."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from fault_servers import closed_port
from otlp_receiver import Receiver

from otel_listener.testing.cluster import Cluster

FLUSH_TIMEOUT = 1.5
# Airflow's own finalisation (XCom push, state report) between our two reference log lines.
AIRFLOW_SLACK_SECONDS = 1.5


def test_refused_connection_fails_nothing_and_logs_once(make_home):
    home = make_home(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port()}")
    result = home.airflow("dags", "test", "otel_simple")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "DagRun Finished" in output and "state=success" in output
    assert output.count("otel_listener: sink traces failed") == 1
    assert output.count("otel_listener: sink metrics failed") == 1


def _log_times(log_file: Path) -> tuple[datetime, datetime]:
    """When the task's work was done, and when the task runner finished (after our last hook)."""
    records = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    done = next(r for r in records if str(r.get("event", "")).startswith("Done. Returned value"))
    last = [r for r in records if r.get("event") == "::endgroup::"][-1]
    parse = lambda r: datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00"))  # noqa: E731
    return parse(done), parse(last)


def test_black_hole_collector_costs_each_task_at_most_the_flush_deadline(make_home):
    receiver = Receiver().start()
    receiver.mode = "blackhole"
    home = make_home(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT=str(FLUSH_TIMEOUT),
    )
    try:
        with Cluster(home) as cluster:
            cluster.wait_for_dag("otel_simple")
            run_id = cluster.trigger("otel_simple")
            assert cluster.wait_for_run("otel_simple", run_id, timeout=180) == "success"
            states = home.query("SELECT task_id, state FROM task_instance WHERE run_id = ?", run_id)
            assert sorted(states) == [("hello", "success"), ("world", "success")]
    finally:
        receiver.stop()
    assert receiver.requests > 0  # the exporters really tried the black hole
    logs = sorted((home.path / "logs").glob(f"dag_id=otel_simple/run_id={run_id}/task_id=*/attempt=1.log"))
    assert len(logs) == 2
    for log_file in logs:
        done, finished = _log_times(log_file)
        assert (finished - done).total_seconds() < FLUSH_TIMEOUT + AIRFLOW_SLACK_SECONDS, log_file

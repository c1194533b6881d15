"""Every example DAG of dags/ also succeeds through the production path (scheduler + LocalExecutor),
triggered plainly as a user would (no conf, no logical date): `airflow dags test` hides differences
such as a missing logical date."""

from __future__ import annotations

import tempfile
from pathlib import Path

from otlp_receiver import Receiver

from otel_listener.testing.cluster import AirflowHome, Cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "dags"


def test_every_example_dag_succeeds_under_the_scheduler():
    receiver = Receiver().start()
    home = AirflowHome(
        Path(tempfile.mkdtemp(prefix="otel-examples-")),
        EXAMPLES,
        extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint},
    )
    home.migrate()
    dag_ids = sorted(p.stem for p in EXAMPLES.glob("52_*.py"))
    assert dag_ids
    try:
        with Cluster(home) as cluster:
            runs = {}
            for dag_id in dag_ids:
                cluster.wait_for_dag(dag_id)
                runs[dag_id] = cluster.trigger(dag_id)
            states = {dag_id: cluster.wait_for_run(dag_id, run_id) for dag_id, run_id in runs.items()}
        assert states == dict.fromkeys(dag_ids, "success")
        assert receiver.wait_for(
            lambda r: (
                {s.attributes.get("airflow.dag_id") for s in r.spans if s.name.startswith("dag_run ")} >= set(dag_ids)
            ),
            60,
        )
    finally:
        receiver.stop()

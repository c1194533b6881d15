"""One task that fails when the run's conf says so: alerting end to end (failures, then recovery)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

with DAG(
    dag_id="otel_alert",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["critical"],
    default_args={"owner": "billing-team", "retries": 0},
):

    @task
    def charge() -> str:
        if (get_current_context()["dag_run"].conf or {}).get("fail"):
            raise RuntimeError("simulated: payment provider refused the batch <card declined> & more")
        return "charged"

    charge()

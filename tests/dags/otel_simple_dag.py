"""One quick task: used for external-trace, dead-collector and overhead tests."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="otel_simple", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):

    @task
    def hello() -> str:
        return "hello"

    @task
    def world(value: str) -> str:
        return value + " world"

    world(hello())

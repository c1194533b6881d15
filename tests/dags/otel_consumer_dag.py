"""Scheduled on the asset that ``otel_shape`` produces: its run's span links to the producer's."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from otel_shape_dag import SHAPE_ASSET

with DAG(dag_id="otel_consumer", start_date=datetime(2026, 1, 1), schedule=[SHAPE_ASSET], catchup=False):

    @task
    def consume() -> None:
        pass

    consume()

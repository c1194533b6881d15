"""Scheduled on the asset that ``otel_shape`` produces: its run's span links to the producer's."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, task

# The same asset otel_shape's ``produce`` task writes (assets are identified by name and URI).
SHAPE_ASSET = Asset(name="otel_shape_asset", uri="file:///tmp/otel_shape_asset.txt")

with DAG(dag_id="otel_consumer", start_date=datetime(2026, 1, 1), schedule=[SHAPE_ASSET], catchup=False):

    @task
    def consume() -> None:
        pass

    consume()

"""A DAG exercising every trace shape: success, retry-then-fail, skip, upstream_failed,
a task skipped by the scheduler, a mapped task and an asset outlet."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowSkipException

SHAPE_ASSET = Asset(name="otel_shape_asset", uri="file:///tmp/otel_shape_asset.txt")

with DAG(
    dag_id="otel_shape",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["otel-listener-test"],
    default_args={"owner": "data-platform"},
):

    @task
    def ok() -> int:
        return 1

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def flaky() -> None:
        raise ValueError("flaky task always fails")

    @task
    def after_flaky() -> None:
        """Never runs: upstream_failed."""

    @task
    def skipper() -> None:
        raise AirflowSkipException("skipping on purpose")

    @task
    def after_skip() -> None:
        """Never runs: skipped by the scheduler."""

    @task
    def square(x: int) -> int:
        return x * x

    @task(outlets=[SHAPE_ASSET])
    def produce() -> None:
        pass

    ok() >> square.expand(x=[1, 2, 3])
    flaky() >> after_flaky()
    skipper() >> after_skip()
    produce()

"""A task long enough to restart the scheduler while it runs, then a quick one."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

with DAG(dag_id="otel_slow", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def slow() -> None:
        time.sleep(8)

    @task
    def after() -> None:
        pass

    slow() >> after()

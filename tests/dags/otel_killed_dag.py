"""A task whose process is killed with SIGKILL: no task hook fires for it."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="otel_killed", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):

    @task
    def victim() -> None:
        time.sleep(1)  # killed mid-run, as the OOM killer would
        os.kill(os.getpid(), signal.SIGKILL)

    victim()

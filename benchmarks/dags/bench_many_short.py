"""Benchmark workload: many short no-op tasks (N parallel + M chained), sizes from the environment.

Each task writes its process id to ``$BENCH_PID_DIR`` so the harness can watch the process exit
(with a pidfd, from outside: nothing is forked or waited for inside the task).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, chain, task

PARALLEL = int(os.environ.get("BENCH_PARALLEL_TASKS", "20"))
CHAINED = int(os.environ.get("BENCH_CHAINED_TASKS", "10"))


def _announce(name: str) -> None:
    folder = os.environ.get("BENCH_PID_DIR")
    if folder:
        with open(os.path.join(folder, f"{name}.pid"), "w") as out:
            out.write(str(os.getpid()))


with DAG(dag_id="bench_many_short", start_date=datetime(2026, 1, 1), schedule=None, catchup=False):

    @task
    def parallel(i: int) -> None:
        _announce(f"parallel_{i}")

    @task
    def chained(i: int) -> None:
        _announce(f"chained_{i}")

    for n in range(PARALLEL):
        parallel.override(task_id=f"parallel_{n}")(n)
    chain(*[chained.override(task_id=f"chained_{n}")(n) for n in range(CHAINED)])

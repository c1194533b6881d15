"""52.1.3 ``on_task_instance_success``: the hook fires after ``execute`` returned and the state is saved.

Airflow calls ``on_task_instance_success(previous_state, task_instance)`` in the task process
once the try has succeeded (``previous_state`` is ``running``). The task's return value is not
an argument: it is an XCom, and ``task_instance.xcom_pull(task_ids=task_instance.task_id)``
works inside the hook. ``otel_listener`` deliberately does *not* put return values on spans
or metrics (unbounded, possibly sensitive data); it records *that* and *when* the try
completed.

Which ``otel_listener`` code handles it:

* ``OtelListener.on_task_instance_success`` (``otel_listener/listener.py``) builds a
  ``TaskEvent`` with ``adapter.task_event(EventKind.TASK_SUCCESS, ...)``; the end date is the
  try's ``end_date`` (or "now" when the SDK has not set it yet), the outcome ``success``.
* In a task process the hook then calls ``dispatcher.flush(flush_timeout)``: the span and the
  metric points are exported before the process exits, waiting at most
  ``[otel_listener] flush_timeout`` seconds (default 0.5).
* ``sinks/traces.py`` emits the finished ``task <task_id>`` span (status UNSET,
  ``airflow.task.outcome=success``, ``cicd.pipeline.task.run.result=success``);
  ``sinks/metrics.py`` counts ``airflow.task.outcomes{outcome=success}`` and records the
  completion time as ``airflow.task.duration{outcome=success}`` (end - start, seconds).

What the tasks do: ``compute_total`` does ~0.3 s of "work" and returns a small result.
``record_completion`` runs after it and shows what the success hook had to work with: the
upstream return value through XCom (as a hook would pull it), the number of success events the
listener has counted in this process (under ``airflow dags test`` all tasks share one process,
so the upstream's success hook is visible here; on a worker it fired in the upstream's own
process), and the span id the upstream's success span carries (derived with
``otel_listener.ids``), so a report can link to it.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

WORK_SECONDS = 0.3

with DAG(
    dag_id="52_01_03_on_task_instance_success",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "beginner", "success"],
    doc_md=__doc__,
):

    @task
    def compute_total():
        started = time.monotonic()
        rows = [12, 14, 16]
        time.sleep(WORK_SECONDS)  # stands in for real work; shows up in airflow.task.duration
        return {"rows": len(rows), "total": sum(rows), "work_seconds": round(time.monotonic() - started, 3)}

    @task
    def record_completion(result: dict):
        from otel_listener import adapter, ids, runtime
        from otel_listener.events import EventKind

        ti = get_current_context()["ti"]
        # What a success hook would read: the return value is an XCom of the upstream try.
        pulled = ti.xcom_pull(task_ids="compute_total")
        rt = runtime.get()
        successes = rt.health.snapshot()["events"].get("task_success", 0) if rt is not None else 0
        run = adapter.task_event(EventKind.TASK_RUNNING, ti, role=runtime.role()).run
        upstream_span = ids.task_span_id(run, "compute_total", -1, 1)
        report = {
            "pulled_return_value": pulled,
            "same_as_argument": pulled == result,
            "success_events_seen_in_this_process": successes,
            "compute_total_span_id": f"{upstream_span:016x}",
            "trace_id": f"{ids.trace_id_for(run):032x}",
        }
        log.info(
            "compute_total succeeded with %s; success hooks counted here: %s; its span: %s",
            pulled,
            successes,
            report["compute_total_span_id"],
        )
        return report

    record_completion(compute_total())

"""52.3.2 Accessing task instance data: what a listener can read from ``task_instance``.

In a task process the hooks receive the task SDK's ``RuntimeTaskInstance``. It has ``dag_id``,
``task_id``, ``run_id``, ``try_number``, ``max_tries``, ``map_index``, ``state``, ``start_date``,
``end_date``, ``hostname``, ``queue``, ``rendered_map_index``, ``log_url`` and ``task`` (the
operator: ``task.task_type``, ``task.pool``, ``task.owner``, ``task.retries``, ...). It does *not*
have the Airflow 2 names the curriculum mentions:

* ``execution_date`` is gone in Airflow 3 -- the run's ``logical_date`` lives on the DAG run
  (``task_instance.get_template_context()["dag_run"].logical_date``);
* ``duration`` does not exist while the try runs -- it is ``end_date - start_date`` once the try
  has ended, which is what the success/failed hooks can compute;
* ``operator`` and ``pool`` are read from ``task_instance.task``.

In the scheduler/api-server the hooks get the ORM ``TaskInstance`` instead (with ``duration``,
``operator``, ``pool``, ``queued_dttm``). ``otel_listener/adapter.py`` (``task_event``) reads
both shapes defensively (``adapter.attr``: a missing or raising attribute becomes a default)
and copies the fields into a frozen ``TaskEvent`` (``otel_listener/events.py``).

Where each field ends up (``docs/telemetry-contract.md``): the ``task <task_id>`` span's
``airflow.dag_id``, ``airflow.task_id``, ``airflow.run_id``, ``airflow.try_number``,
``airflow.max_tries``, ``airflow.map_index``, ``airflow.rendered_map_index``,
``airflow.operator``, ``airflow.pool``, ``airflow.queue``, ``airflow.hostname``,
``airflow.task.state``, ``airflow.task.owner``, ``cicd.pipeline.task.run.url.full`` (the log
URL); span start/end = ``start_date``/``end_date``; the duration becomes
``airflow.task.duration{dag_id,task_id,operator,outcome}``; the logical date is
``airflow.logical_date`` on the ``dag_run`` span.

What the tasks do: ``inspect_task_instance`` prints the task instance's fields (and which
Airflow 2 names are missing) next to the ``TaskEvent`` the adapter builds from the same object.
``process_region`` is mapped over two regions with a ``map_index_template``, so its spans carry
``airflow.map_index`` 0/1 and ``airflow.rendered_map_index`` ``eu``/``us``.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


with DAG(
    dag_id="52_03_02_accessing_task_instance",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    default_args={"owner": "data-platform", "retries": 2},
    doc_md=__doc__,
):

    @task
    def inspect_task_instance():
        from otel_listener import adapter, runtime
        from otel_listener.events import EventKind

        context = get_current_context()
        ti = context["ti"]
        direct = {
            "type": type(ti).__name__,
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "try_number": ti.try_number,
            "max_tries": ti.max_tries,
            "map_index": ti.map_index,
            "state": str(getattr(ti.state, "value", ti.state)),
            "start_date": _iso(ti.start_date),
            "end_date": _iso(ti.end_date),
            "hostname": ti.hostname,
            "queue": ti.queue,
            "pool": ti.task.pool,
            "operator": ti.task.task_type,
            "owner": ti.task.owner,
            "logical_date": _iso(context["dag_run"].logical_date),
            "log_url": ti.log_url,
        }
        missing = {name: not hasattr(ti, name) for name in ("execution_date", "duration", "operator", "pool")}
        event = adapter.task_event(EventKind.TASK_RUNNING, ti, role=runtime.role())
        recorded = {
            "task_id": event.task_id,
            "try_number": event.try_number,
            "max_tries": event.max_tries,
            "map_index": event.map_index,
            "state": event.state,
            "start_date": _iso(event.start_date),
            "hostname": event.hostname,
            "queue": event.queue,
            "pool": event.pool,
            "operator": event.operator,
            "owner": event.owner,
            "logical_date": _iso(event.logical_date),
            "log_url": event.log_url,
        }
        for key, value in direct.items():
            log.info("task_instance %-12s = %s", key, value)
        log.info("not on RuntimeTaskInstance: %s", [k for k, v in missing.items() if v])
        time.sleep(0.2)  # a measurable duration for airflow.task.duration
        return {"direct": direct, "missing_on_runtime_ti": missing, "task_event": recorded}

    @task(map_index_template="{{ region_label }}")
    def process_region(region: str):
        context = get_current_context()
        context["region_label"] = region  # rendered into ti.rendered_map_index -> airflow.rendered_map_index
        ti = context["ti"]
        log.info("processing %s as map_index %s", region, ti.map_index)
        return {"region": region, "map_index": ti.map_index}

    inspect_task_instance() >> process_region.expand(region=["eu", "us"])

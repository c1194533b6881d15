"""52.1.5 DAG-level listeners: ``on_dag_run_running`` / ``_success`` / ``_failed``.

DAG-run hooks are called with ``(dag_run, msg)`` by the process that changes the run's state:
the scheduler (or the api-server when a run is set by hand; under ``airflow dags test`` the
test process itself, where ``on_dag_run_running`` does not fire). ``dag_run`` is the ORM row,
bound to the scheduler's session: a listener must never commit through it.

Which ``otel_listener`` code handles it:

* ``OtelListener.on_dag_run_running`` -> ``adapter.dag_run_event``: records the run's
  queued -> running delay as ``airflow.dag_run.scheduling_delay``.
* ``OtelListener.on_dag_run_success`` / ``on_dag_run_failed`` -> ``adapter.dag_run_end_event``:
  besides the run's own fields it reads the run's task instances *through the run's own
  session* (never committing) to account for what no task hook saw: task instances whose
  state the scheduler decided (``upstream_failed``, skipped by a trigger rule or a skipped
  upstream, ``removed``) get *synthesized* task spans, and every try's queued -> started delay
  becomes ``airflow.task.scheduling_delay`` (when Airflow recorded a queued time).
* ``sinks/traces.py`` emits the root span ``dag_run <dag_id>`` (status ERROR when the run
  failed; attributes ``airflow.run_type``, ``airflow.dag_run.state``, ``airflow.dag_run.msg``,
  ``airflow.logical_date``, ``airflow.dag_run.triggering_user``, ``cicd.pipeline.result``).
  Its span id is derived from dag_id/run_id/clear_number (``otel_listener/ids.py``), so every
  task span -- emitted by other processes that never talk to the scheduler -- names it as parent.
* ``sinks/metrics.py``: DAG-wide metrics ``airflow.dag_run.outcomes{dag_id,outcome,run_type}``
  and ``airflow.dag_run.duration{dag_id,outcome}``.

What the tasks do: ``describe_run`` builds the same records the DAG-run hooks build, from the
run in its context (``adapter.dag_run_event`` on ``context["dag_run"]``), and derives the trace
id and the DAG-run span id that every span of this run will use. ``fan_out_a``/``fan_out_b``/
``join`` give the trace some shape. ``skip_on_purpose`` skips itself (its own skipped hook
fires), which makes the scheduler skip ``never_runs`` without ever starting it: only the DAG-run
end hook can report that task, as a synthesized span. The run ends ``success`` (skipped leaves
count as success).
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

log = logging.getLogger(__name__)

with DAG(
    dag_id="52_01_05_dag_level_listeners",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def describe_run():
        from otel_listener import adapter, ids, runtime
        from otel_listener.events import EventKind

        dag_run = get_current_context()["dag_run"]
        event = adapter.dag_run_event(EventKind.DAG_RUN_RUNNING, dag_run, "running", role=runtime.role())
        view = {
            "dag_id": event.run.dag_id,
            "run_id": event.run.run_id,
            "clear_number": event.run.clear_number,
            "run_type": event.run_type,
            "state": event.state,
            "logical_date": event.logical_date.isoformat() if event.logical_date else None,
            "triggering_user": event.triggering_user,
            "trace_id": f"{ids.trace_id_for(event.run):032x}",
            "dag_run_span_id": f"{ids.dag_run_span_id(event.run):016x}",
        }
        log.info("DAG-run record as the DAG-run hooks see it: %s", view)
        return view

    @task
    def fan_out_a():
        return "a"

    @task
    def fan_out_b():
        return "b"

    @task
    def join(a: str, b: str):
        return a + b

    @task
    def skip_on_purpose():
        raise AirflowSkipException("nothing to do today")

    @task
    def never_runs():
        """Skipped by the scheduler because its upstream skipped: no task hook ever fires for it."""

    describe_run() >> [a := fan_out_a(), b := fan_out_b()]
    join(a, b)
    skip_on_purpose() >> never_runs()

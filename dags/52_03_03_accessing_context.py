"""52.3.3 Accessing context data: what a listener can use from the run's context.

Airflow 3 hooks get no ``context`` argument. A listener in a task process reads the context
through the task instance: ``task_instance.get_template_context()`` gives the same mapping a
task sees (``dag_run``, ``params``, ``ds``, ``ts``, ``run_id``, ...); the DAG run's ``conf`` is
``context["dag_run"].conf``. Building the full template context has a cost, so
``otel_listener`` does not: ``adapter._task_dag_run`` reads the DAG run the server already sent
to the task process (``task_instance._ti_context_from_server.dag_run``, the object behind
``context["dag_run"]``) and takes only ``run_type``, ``logical_date``, ``clear_number`` and
``conf["traceparent"]``.

The one context value that changes the telemetry's shape is ``conf["traceparent"]``: a W3C
trace context passed when the run is triggered (``airflow dags trigger -c
'{"traceparent": "00-<trace id>-<span id>-01"}'``, or the REST API). Then
``otel_listener/ids.py`` uses *its* trace id for every span of the run and the ``dag_run``
span becomes a child of that external span -- the run joins the trace of whatever triggered
it (a CI job, an upstream service). Without it the trace id is derived from
dag_id/run_id/clear_number. ``params`` and template variables are not exported (they are
unbounded and may hold secrets).

What the tasks do (trigger with, e.g.,
``-c '{"customer": "acme", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'``;
without conf the defaults are used and the trace id is derived):

* ``read_context`` shows ``context["dag_run"]`` (run id, type, logical date, conf),
  ``context["params"]`` (``customer`` from conf overriding the param default) and template
  variables, and the trace id the listener will use for this run.
* ``render_templates`` receives Jinja-rendered arguments (``{{ ds }}``, ``{{ run_id }}``,
  ``{{ params.customer }}``, ``{{ dag_run.conf.get('traceparent', 'none') }}``).

Telemetry: every span of the run in one trace; with a conf ``traceparent`` that trace id is the
caller's and the ``dag_run 52_03_03_accessing_context`` span's parent is the caller's span.
``airflow.run_type`` and ``airflow.logical_date`` come from the same context.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, Param, get_current_context, task

log = logging.getLogger(__name__)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


with DAG(
    dag_id="52_03_03_accessing_context",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    params={"customer": Param("default-customer", type="string")},
    doc_md=__doc__,
):

    @task
    def read_context():
        from otel_listener import adapter, ids, runtime
        from otel_listener.events import EventKind

        context = get_current_context()
        dag_run = context["dag_run"]
        ti = context["ti"]
        event = adapter.task_event(EventKind.TASK_RUNNING, ti, role=runtime.role())
        trace_id = ids.trace_id_for(event.run)
        upstream = ids.upstream_parent(event.run)
        view = {
            "dag_run": {
                "run_id": dag_run.run_id,
                "run_type": str(getattr(dag_run.run_type, "value", dag_run.run_type)),
                "logical_date": _iso(dag_run.logical_date),
                "conf": dict(dag_run.conf or {}),
            },
            "params": dict(context["params"]),
            # ds/ts exist only when the run has a logical date (not for runs triggered without one).
            "templates": {key: str(context.get(key)) for key in ("ds", "ts", "run_id")},
            "listener_sees": {
                "run_type": event.run_type,
                "logical_date": _iso(event.logical_date),
                "traceparent": event.run.traceparent,
                "trace_id": f"{trace_id:032x}",
                "parent_span_id": f"{upstream[1]:016x}" if upstream else None,
                "dag_run_span_id": f"{ids.dag_run_span_id(event.run):016x}",
            },
        }
        log.info("context as the task sees it: %s", {k: view[k] for k in ("dag_run", "params", "templates")})
        log.info("what otel_listener takes from it: %s", view["listener_sees"])
        return view

    @task
    def render_templates(ds: str, run_id: str, customer: str, traceparent: str):
        rendered = {"ds": ds, "run_id": run_id, "customer": customer, "traceparent": traceparent}
        log.info("rendered template arguments: %s", rendered)
        return rendered

    read_context() >> render_templates(
        ds="{{ ds if ds is defined else 'no logical date' }}",
        run_id="{{ run_id }}",
        customer="{{ params.customer }}",
        traceparent="{{ dag_run.conf.get('traceparent', 'none') }}",
    )

"""52.1.2 ``on_task_instance_running``: the hook fires in the task process before ``execute``.

Airflow calls ``on_task_instance_running(previous_state, task_instance)`` in the task process
right after the task instance is marked running and before the operator's ``execute``
(``previous_state`` is ``queued``; ``task_instance`` is the task SDK's ``RuntimeTaskInstance``).
There is no ``context`` argument: a listener reads the task instance, or calls
``task_instance.get_template_context()``.

Which ``otel_listener`` code handles it:

* ``OtelListener.on_task_instance_running`` (``otel_listener/listener.py``) calls
  ``adapter.task_event(EventKind.TASK_RUNNING, ti, ...)`` (``otel_listener/adapter.py``), which
  copies what the span will need (ids, try number, start date, host, operator, pool, queue,
  owner, the run's type/logical date/conf ``traceparent``) into an immutable ``TaskEvent``
  (``otel_listener/events.py``), and hands it to ``runtime.get().dispatcher.submit(...)`` --
  a non-blocking append to per-sink queues. Nothing is exported yet and nothing waits.
* The metrics sink counts the try as running (``airflow.task.running`` +1, -1 again at its
  end); the trace sink waits for the end of the try to emit one finished span.

Because span ids are derived, not random (``otel_listener/ids.py``), the task already knows
the trace id and span id its span will have. ``announce_start`` uses that for a "task started"
notification that links straight to the trace, built from the same ``TaskEvent`` the hook
built. Both tasks also read the listener's health counters to show the running event was
counted in this process before their own code ran (under ``airflow dags test`` all tasks share
one process, so the second task sees two running events; on a worker each task process sees 1).

Telemetry: ``task announce_start`` and ``task second_step`` spans (start time = the
``start_date`` the running hook saw, ``airflow.task.previous_state`` = ``running`` on the
finished try), ``otel_listener.events{event=task_running}`` (one per try) and
``airflow.task.running`` (+1/-1, net 0 once the try has ended).
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)


def _running_event_view() -> dict:
    """Rebuild the running event for this task instance exactly as the hook did, and read health."""
    from otel_listener import adapter, ids, runtime
    from otel_listener.events import EventKind

    ti = get_current_context()["ti"]
    rt = runtime.get()
    seen = rt.health.snapshot()["events"].get("task_running", 0) if rt is not None else 0
    event = adapter.task_event(EventKind.TASK_RUNNING, ti, previous_state="queued", role=runtime.role())
    trace_id = ids.trace_id_for(event.run)
    span_id = ids.task_span_id(event.run, event.task_id, event.map_index, event.try_number)
    return {
        "task_id": event.task_id,
        "try_number": event.try_number,
        "outcome": event.outcome.value if event.outcome else None,
        "start_date": event.start_date.isoformat() if event.start_date else None,
        "hostname": event.hostname,
        "operator": event.operator,
        "queue": event.queue,
        "process_role": event.process_role,
        "running_events_seen_before_execute": seen,
        "trace_id": f"{trace_id:032x}",
        "span_id": f"{span_id:016x}",
        "traceparent": ids.format_traceparent(trace_id, span_id),
    }


with DAG(
    dag_id="52_01_02_on_task_instance_running",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "beginner", "success"],
    doc_md=__doc__,
):

    @task
    def announce_start():
        """Example: notify start, with a link to the task's (future) span."""
        view = _running_event_view()
        if view["running_events_seen_before_execute"] < 1:
            log.warning("no running event counted: is otel_listener installed and enabled?")
        log.info(
            "TASK STARTED %s try %s on %s at %s (operator %s, queue %s); trace: traceparent=%s",
            view["task_id"],
            view["try_number"],
            view["hostname"],
            view["start_date"],
            view["operator"],
            view["queue"],
            view["traceparent"],
        )
        return view

    @task
    def second_step(previous: dict):
        view = _running_event_view()
        log.info(
            "running events counted in this process before %s executed: %s (previous task saw %s)",
            view["task_id"],
            view["running_events_seen_before_execute"],
            previous["running_events_seen_before_execute"],
        )
        return view

    second_step(announce_start())

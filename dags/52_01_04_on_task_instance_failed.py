"""52.1.4 ``on_task_instance_failed``: the hook fires for every failed try, with the exception.

Airflow calls ``on_task_instance_failed(previous_state, task_instance, error)`` in the task
process after a try raised. ``error`` is the real exception object there (a string when a
state is set by hand in the UI/API, handled by the api-server). The hook fires on *every*
failed try: ``task_instance.state`` is ``up_for_retry`` when Airflow will retry, ``failed`` on
the last try.

Which ``otel_listener`` code handles it:

* ``OtelListener.on_task_instance_failed`` (``otel_listener/listener.py``) builds a
  ``TaskEvent`` with ``adapter.task_event(EventKind.TASK_FAILED, ti, error=error, ...)``;
  ``adapter.error_info`` reduces the exception to type, message and a bounded stack trace
  (``[otel_listener] max_stacktrace_chars``) so nothing keeps the exception alive; the outcome
  is ``retry`` or ``failed`` from the state. Then the events are flushed (bounded wait).
* ``sinks/traces.py``: the try's ``task <task_id>`` span gets status ERROR, an ``exception``
  event (``exception.type``, ``exception.message``, ``exception.stacktrace``; secrets masked by
  ``otel_listener/masking.py``), ``airflow.task.outcome`` = ``retry``/``failed``,
  ``airflow.task.will_retry`` and ``airflow.task.state`` = ``up_for_retry``/``failed``.
* ``sinks/metrics.py``: ``airflow.task.outcomes{outcome=retry|failed}`` and
  ``airflow.task.duration`` of the failed try. Alert on them (the stack ships Prometheus rules).

The DAG (the run itself succeeds):

* ``flaky_extract`` (``retries=1``) fails its first try with a ``ConnectionError`` and succeeds
  on the second: one ERROR span (outcome ``retry``) and one success span, same trace.
* ``always_fails`` (no retries) fails for good: one ERROR span (outcome ``failed``).
* ``alert_on_failures`` (``trigger_rule=all_done``) is the only leaf, so the run ends
  ``success``. Example "alert on failure": it composes an alert per failed try that links to
  the exact span of that try (span ids are derived, see ``otel_listener/ids.py``), and reports
  how many failed events the listener counted in this process (all of them under
  ``airflow dags test``, where every task runs in one process).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import DAG, TriggerRule, get_current_context, task

log = logging.getLogger(__name__)


def _failed_events_seen() -> int:
    from otel_listener import runtime

    rt = runtime.get()
    return rt.health.snapshot()["events"].get("task_failed", 0) if rt is not None else 0


with DAG(
    dag_id="52_01_04_on_task_instance_failed",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "beginner", "success"],
    doc_md=__doc__,
):

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def flaky_extract():
        ti = get_current_context()["ti"]
        if ti.try_number == 1:
            raise ConnectionError("simulated: upstream API answered 503 on try 1")
        seen = _failed_events_seen()
        log.info("try %s succeeded; failed events counted in this process so far: %s", ti.try_number, seen)
        return {"try_number": ti.try_number, "failed_events_seen": seen}

    @task
    def always_fails():
        raise ValueError("simulated: row 42 has no customer id")

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def alert_on_failures():
        from otel_listener import adapter, ids, runtime
        from otel_listener.events import EventKind

        ti = get_current_context()["ti"]
        run = adapter.task_event(EventKind.TASK_RUNNING, ti, role=runtime.role()).run
        trace_id = ids.trace_id_for(run)
        alerts = []
        for task_id, try_number in (("flaky_extract", 1), ("always_fails", 1)):
            span_id = ids.task_span_id(run, task_id, -1, try_number)
            alert = {
                "task_id": task_id,
                "try_number": try_number,
                "trace_id": f"{trace_id:032x}",
                "span_id": f"{span_id:016x}",
            }
            log.warning(
                "ALERT %s.%s try %s failed; trace %s span %s",
                run.dag_id,
                task_id,
                try_number,
                alert["trace_id"],
                alert["span_id"],
            )
            alerts.append(alert)
        return {"alerts": alerts, "failed_events_seen": _failed_events_seen()}

    [flaky_extract(), always_fails()] >> alert_on_failures()

"""52.3.4 Error handling in listeners: failures inside the listener never reach the task.

Airflow wraps each hook call in ``try/except`` and logs ``error calling listener``, so a raising
listener does not fail the task -- but pluggy stops at the first raising implementation, so
every listener registered after it misses the event (see 52_01_06). A listener must therefore
catch its own errors. ``otel_listener`` does so at two levels:

* **Hooks** (``otel_listener/listener.py``): every hook body is wrapped; an exception is passed
  to ``_hook_failed``, which counts it per hook in ``Health.hook_errors``
  (``otel_listener/health.py``), exported as ``otel_listener.hook.errors{hook}``, and logs
  ``otel_listener: hook <name> failed: <type>: <message>`` once per incident (rate-limited by
  ``Health.warn_once``, so a broken hook on every task does not flood the logs).
* **Sinks** (``otel_listener/dispatcher.py``): each sink runs on its own thread behind its own
  queue. A sink that raises is counted (``otel_listener.sink.errors{sink}``) and the next event
  is handled as usual; a sink whose construction fails (e.g. a bad ``OTEL_*`` value) is disabled
  in that process only and the other sinks carry on. Queue overflow is counted in
  ``otel_listener.events.dropped{reason}``, never a blocked task.

**Retry logic**: there is deliberately none on the hook path -- a retry would mean waiting in
the task. The OTLP exporters retry transient failures on the sink threads, and a task process
waits for them at most ``[otel_listener] flush_timeout`` seconds at its end (exporter timeouts
are capped to that deadline there); what is still unsent then is dropped and counted.

What the tasks do, in the task process:

* ``inject_hook_fault`` makes the listener's own code fail: it temporarily replaces
  ``otel_listener.adapter.task_event`` with a function that raises (fault injection), calls the
  real ``OtelListener.on_task_instance_running`` three times, and restores it. The calls return
  normally; ``Health.hook_errors`` counts 3; one warning line is logged; nothing is submitted.
* ``isolate_sink_fault`` builds a private ``Dispatcher`` (the package's class) with a sink that
  raises on every event, a sink that cannot even be built, and a healthy sink, and shows that
  the healthy one still receives every event while the failures are counted.
* ``unaffected`` runs afterwards like any other task.

Telemetry: ``otel_listener.hook.errors{hook=on_task_instance_running}`` = 3, all task spans with
``airflow.task.outcome=success``, ``otel_listener.sink.errors`` = 0 for the real sinks, and
exactly one running event per real task start (``otel_listener.events{event=task_running}``).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

INJECTED_CALLS = 3

with DAG(
    dag_id="52_03_04_error_handling_listeners",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def inject_hook_fault():
        from otel_listener import adapter, runtime
        from otel_listener.listener import listener

        ti = get_current_context()["ti"]
        rt = runtime.get()
        if rt is None:
            return {"enabled": False}
        before = rt.health.snapshot()

        def broken_task_event(*args, **kwargs):
            raise RuntimeError("injected fault in adapter.task_event")

        original = adapter.task_event
        adapter.task_event = broken_task_event
        returned, seconds = [], []
        try:
            for _ in range(INJECTED_CALLS):
                started = time.perf_counter()
                returned.append(listener.on_task_instance_running(previous_state="queued", task_instance=ti))
                seconds.append(time.perf_counter() - started)
        finally:
            adapter.task_event = original
        after = rt.health.snapshot()
        report = {
            "enabled": True,
            "returned": returned,
            "max_call_seconds": max(seconds),
            "hook_errors_before": before["hook_errors"],
            "hook_errors_after": after["hook_errors"],
            "events_submitted_during_fault": sum(after["events"].values()) - sum(before["events"].values()),
        }
        log.info("the task carried on after %s failing hook calls: %s", INJECTED_CALLS, report)
        return report

    @task
    def isolate_sink_fault():
        from otel_listener import adapter, runtime
        from otel_listener.dispatcher import Dispatcher
        from otel_listener.events import EventKind
        from otel_listener.health import Health

        class Healthy:
            name = "healthy"

            def __init__(self):
                self.handled = 0

            def handle(self, event):
                self.handled += 1

            def flush(self, timeout):
                pass

            def tick(self):
                pass

        class Raising(Healthy):
            name = "raising"

            def handle(self, event):
                raise ConnectionError("collector unreachable (simulated)")

        def unbuildable():
            raise ValueError("bad OTEL_EXPORTER_OTLP_PROTOCOL (simulated)")

        healthy = Healthy()
        health = Health()
        dispatcher = Dispatcher(
            [("raising", Raising), ("unbuildable", unbuildable), ("healthy", lambda: healthy)],
            health,
            max_queue=100,
            tick_interval=60.0,
        )
        event = adapter.task_event(EventKind.TASK_RUNNING, get_current_context()["ti"], role=runtime.role())
        for _ in range(5):
            dispatcher.submit(event)
        completed = dispatcher.flush(2.0)
        snapshot = health.snapshot()
        report = {
            "flush_completed": completed,
            "healthy_handled": healthy.handled,
            "sink_errors": snapshot["sink_errors"],
            "disabled_sinks": [w.name for w in dispatcher.workers if w.disabled],
        }
        log.info("private dispatcher with failing sinks: %s", report)
        return report

    @task
    def unaffected():
        return "ran normally"

    inject_hook_fault() >> isolate_sink_fault() >> unaffected()

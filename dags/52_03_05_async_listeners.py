"""52.3.5 Async listeners: keep the hook cheap, do the slow work in the background.

Airflow calls listener hooks synchronously, on the task's own thread (pluggy does not await
coroutines: an ``async def`` hook would only create a coroutine that never runs). Whatever a
hook does is added to the task's run time, and whatever it waits for -- a slow or dead
collector -- the task waits for too. "Async" therefore means: queue the event in the hook and
process it on another thread.

That is ``otel_listener``'s design (``otel_listener/dispatcher.py``):

* ``Dispatcher.submit`` (the only thing a hook calls after building the immutable event in
  ``adapter.py``) appends the event to one bounded ``deque`` per sink and wakes that sink's
  daemon thread (``otel-listener-traces``, ``otel-listener-metrics``, ...): no I/O, no locks
  held for long, O(number of sinks). The OpenTelemetry SDK itself is imported and built on the
  sink thread, so even the first event pays nothing for it.
* Each sink drains its queue on its own thread; a slow sink never delays another.
* Bounded memory: when a sink's queue holds ``[otel_listener] queue_size`` events (default
  10 000) new ones are dropped and counted (``otel_listener.events.dropped{reason}``) instead
  of growing without limit or blocking.
* The one wait: a task process must export before it exits, so at its end it calls
  ``Dispatcher.flush(flush_timeout)`` -- a deadline, not a delay (default 0.5 s). Its duration is
  exported as ``otel_listener.flush.duration{outcome=ok|timeout|skipped_stuck}``; a flush still
  stuck from before is not waited for again.

What the tasks do, in the task process:

* ``measure_submit`` times the real runtime's hook path pieces for this task instance:
  building the ``TaskEvent`` (``adapter.task_event``) and handing events to a private
  ``Dispatcher`` whose only sink is deliberately slow (5 ms per event, like a sluggish
  collector), compared with calling that slow sink synchronously -- what a blocking listener
  would cost. It also shows the bounded queue dropping the overflow, and a flush giving up at
  its deadline. The private dispatcher exports nothing.
* ``measure_flush`` shows the real runtime's sink threads alive in this process and times a real
  ``dispatcher.flush(flush_timeout)`` -- the wait every task process pays at its end.

Telemetry: ``otel_listener.flush.duration{outcome=ok}`` points (one per task end and the
explicit flush), ``otel_listener.events.dropped`` = 0 for the real runtime, and the tasks'
spans, whose short durations include everything the listener did on their path.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

EVENTS = 1000
QUEUE = 200
SLOW_SINK_SECONDS = 0.005

with DAG(
    dag_id="52_03_05_async_listeners",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "advanced", "success"],
    doc_md=__doc__,
):

    @task
    def measure_submit():
        import inspect

        from otel_listener import adapter, runtime
        from otel_listener.dispatcher import Dispatcher
        from otel_listener.events import EventKind
        from otel_listener.health import Health
        from otel_listener.listener import OtelListener

        class SlowSink:
            name = "slow"

            def __init__(self):
                self.handled = 0

            def handle(self, event):
                time.sleep(SLOW_SINK_SECONDS)
                self.handled += 1

            def flush(self, timeout):
                pass

            def tick(self):
                pass

        ti = get_current_context()["ti"]
        started = time.perf_counter()
        event = adapter.task_event(EventKind.TASK_RUNNING, ti, role=runtime.role())
        build_seconds = time.perf_counter() - started

        # A blocking listener: the task waits for every event the sink handles.
        blocking = SlowSink()
        started = time.perf_counter()
        for _ in range(20):
            blocking.handle(event)
        blocking_seconds_for_20 = time.perf_counter() - started

        # The package's way: submit to a bounded queue, a daemon thread does the slow part.
        sink, health = SlowSink(), Health()
        dispatcher = Dispatcher([("slow", lambda: sink)], health, max_queue=QUEUE, tick_interval=60.0)
        per_call = []
        for _ in range(EVENTS):
            t0 = time.perf_counter()
            dispatcher.submit(event)
            per_call.append(time.perf_counter() - t0)
        submit_total = sum(per_call)
        handled_when_submit_returned = sink.handled
        flush_deadline = 0.2
        t0 = time.perf_counter()
        flushed = dispatcher.flush(flush_deadline)  # far more queued than 0.2 s of a 5 ms sink can take
        flush_seconds = time.perf_counter() - t0
        per_call.sort()
        report = {
            "hooks_are_coroutines": any(
                inspect.iscoroutinefunction(getattr(OtelListener, n)) for n in dir(OtelListener) if n.startswith("on_")
            ),
            "build_event_ms": round(build_seconds * 1000, 3),
            "blocking_ms_for_20_events": round(blocking_seconds_for_20 * 1000, 1),
            "submit_total_ms_for_all_events": round(submit_total * 1000, 3),
            "submit_p50_us": round(per_call[len(per_call) // 2] * 1e6, 2),
            "submit_p99_us": round(per_call[int(len(per_call) * 0.99)] * 1e6, 2),
            "events_submitted": EVENTS,
            "queue_size": QUEUE,
            "handled_when_submit_returned": handled_when_submit_returned,
            "dropped": sum(health.snapshot()["dropped"].values()),
            "flush_deadline": flush_deadline,
            "flush_completed": flushed,
            "flush_seconds": round(flush_seconds, 3),
        }
        log.info(
            "%d submits took %.2f ms in total (p99 %.1f us) while a blocking sink needs %.0f ms for 20 events; "
            "queue bound %d dropped %d; flush gave up after %.3f s (deadline %.1f s)",
            EVENTS,
            report["submit_total_ms_for_all_events"],
            report["submit_p99_us"],
            report["blocking_ms_for_20_events"],
            QUEUE,
            report["dropped"],
            flush_seconds,
            flush_deadline,
        )
        return report

    @task
    def measure_flush():
        import threading

        from otel_listener import runtime

        rt = runtime.get()
        if rt is None:
            return {"enabled": False}
        names = {f"otel-listener-{worker.name}" for worker in rt.dispatcher.workers}
        threads = sorted(t.name for t in threading.enumerate() if t.name in names)
        started = time.perf_counter()
        completed = rt.dispatcher.flush(rt.settings.flush_timeout)
        seconds = time.perf_counter() - started
        report = {
            "enabled": True,
            "sink_threads": threads,
            "queue_size": rt.settings.queue_size,
            "flush_timeout": rt.settings.flush_timeout,
            "flush_completed": completed,
            "flush_seconds": round(seconds, 4),
            "dropped": rt.health.snapshot()["dropped"],
        }
        log.info("real runtime: %s", report)
        return report

    measure_submit() >> measure_flush()

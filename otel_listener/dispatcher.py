"""Bounded, non-blocking hand-off from hooks to sinks.

The hook side of :meth:`Dispatcher.submit` only appends to a bounded deque per sink and wakes
that sink's thread: no I/O, no waiting, O(number of sinks). Each sink gets its own thread so a
sink that hangs (a black-holed collector) never delays another, and a sink that raises is
counted and skipped. :meth:`Dispatcher.flush` is the one place that waits, always with a
deadline: task processes call it at their end so nothing buffered is lost to the exit, and a
dead backend costs at most the deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from otel_listener.events import Event
from otel_listener.health import Health

log = logging.getLogger("otel_listener")


class Sink(Protocol):
    """A consumer of events. All methods run on the sink's own background thread."""

    name: str

    def handle(self, event: Event) -> None:
        """Take one event (buffer it or act on it)."""

    def flush(self, timeout: float) -> None:
        """Send whatever is buffered; should give up after ``timeout`` seconds."""

    def tick(self) -> None:
        """Periodic work for long-lived processes (e.g. a metrics export)."""


SinkFactory = Callable[[], Sink]


class _FlushRequest:
    __slots__ = ("deadline", "done")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()


class SinkWorker:
    """One sink, its bounded queue and the daemon thread that drains it.

    The sink itself is built on that thread by ``factory`` (importing the OpenTelemetry SDK and
    exporters is not something a hook should wait for). A factory that fails, e.g. on a bad
    ``OTEL_*`` value, disables this sink only, with one log line; the others carry on.
    """

    def __init__(self, name: str, factory: SinkFactory, health: Health, max_queue: int, tick_interval: float) -> None:
        self.name = name
        self.factory = factory
        self.sink: Sink | None = None
        self.disabled = False
        self.missed_deadline = False  # a sink that made one flush wait the whole deadline is not waited for again
        self.health = health
        self.max_queue = max_queue
        self.tick_interval = tick_interval
        self._reset()

    def _reset(self) -> None:
        self._queue: deque[object] = deque()
        # A plain lock as a binary wake-up signal: held = nothing pending. Releasing it is one C
        # call (a futex wake), several times cheaper on the hook path than ``Event.set``.
        self._wake = threading.Lock()
        self._wake.acquire()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_tick = time.monotonic() + self.tick_interval
        self._stopped = False

    def submit(self, event: Event) -> None:
        if self.disabled:
            return
        if len(self._queue) >= self.max_queue:
            self.health.count_drop(f"queue_full:{self.name}")
            return
        self._queue.append(event)
        self._ensure_started()
        self._signal()

    def request_flush(self, deadline: float) -> threading.Event:
        request = _FlushRequest(deadline)
        if self.disabled:
            request.done.set()
            return request.done
        self._queue.append(request)  # flushes are never dropped
        self._ensure_started()
        self._signal()
        return request.done

    def _signal(self) -> None:
        try:
            self._wake.release()
        except RuntimeError:
            pass  # a wake-up is already pending

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=f"otel-listener-{self.name}", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        try:
            self.sink = self.factory()
        except Exception as exc:
            self.disabled = True
            self.health.count_sink_error(self.name, exc)
            self.health.warn_once(f"disabled:{self.name}", "otel_listener: %s sink disabled in this process", self.name)
            self._release_flushes()
            return
        while not self._stopped:
            self._wake.acquire(timeout=max(0.0, self._next_tick - time.monotonic()))
            self._drain()
            if time.monotonic() >= self._next_tick:
                self._next_tick = time.monotonic() + self.tick_interval
                self._guard("tick", self.sink.tick)

    def stop(self) -> None:
        """End the thread after its current item (no more ticks or exports); pending flushes complete."""
        self._stopped = True
        self.disabled = True
        self._release_flushes()
        try:
            self._wake.release()
        except RuntimeError:
            pass  # already signalled

    def _release_flushes(self) -> None:
        """Nobody may wait on a disabled sink: complete every pending flush request."""
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, _FlushRequest):
                item.done.set()

    def _drain(self) -> None:
        assert self.sink is not None
        queue = self._queue
        while queue:
            try:
                item = queue.popleft()
            except IndexError:
                return
            if isinstance(item, _FlushRequest):
                remaining = item.deadline - time.monotonic()
                if remaining > 0:
                    self._guard("flush", self.sink.flush, remaining)
                item.done.set()
            else:
                self._guard("handle", self.sink.handle, item)

    def _guard(self, what: str, func, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            func(*args)
        except Exception as exc:
            if not self._stopped:  # a retired dispatcher's last export is nobody's incident
                self.health.count_sink_error(self.name, exc)


class Dispatcher:
    """Fans events out to sink workers; flushes them all under one deadline."""

    def __init__(
        self,
        sinks: Sequence[tuple[str, SinkFactory]],
        health: Health,
        max_queue: int = 10_000,
        tick_interval: float = 15.0,
    ) -> None:
        self.health = health
        self.workers = [SinkWorker(name, factory, health, max_queue, tick_interval) for name, factory in sinks]
        self._closed = False
        self._pending: list[threading.Event] = []

    def submit(self, event: Event) -> None:
        """Hand an event to every sink without blocking. Never raises."""
        if self._closed:
            return
        self.health.count_event(event.kind.value)
        for worker in self.workers:
            worker.submit(event)

    def flush(self, timeout: float) -> bool:
        """Ask every sink to export what it holds; wait at most ``timeout`` seconds in total.

        A sink whose earlier flush is still stuck (a collector that accepts but never answers), or
        that once made a flush wait the whole deadline, is not asked again nor waited for: that
        would only stack deadlines (the last hook's flush, then the exit flush), so one process
        costs at most one deadline. The other sinks still flush.
        """
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        previous = self._pending or [None] * len(self.workers)
        stuck = [
            w.missed_deadline or (done is not None and not done.is_set())
            for w, done in zip(self.workers, previous, strict=True)
        ]
        fresh = [w.request_flush(deadline) for w, s in zip(self.workers, stuck, strict=True) if not s]
        self._pending = [done if s else fresh.pop(0) for done, s in zip(previous, stuck, strict=True)]
        waited = [done for done, s in zip(self._pending, stuck, strict=True) if not s]
        complete = all(done.wait(max(0.0, deadline - time.monotonic())) for done in waited)
        for worker, done, s in zip(self.workers, self._pending, stuck, strict=True):
            if not s and not done.is_set():
                worker.missed_deadline = True
        outcome = "skipped_stuck" if any(stuck) else ("ok" if complete else "timeout")
        self.health.record_flush(time.monotonic() - started, outcome)
        return complete and not any(stuck)

    def close(self, timeout: float) -> None:
        """Final flush at process end; later events are ignored. Threads are daemons and die with the process."""
        if not self._closed:
            self.flush(timeout)
            self._closed = True

    def stop(self) -> None:
        """Retire this dispatcher without a flush: its threads end, nothing is exported any more."""
        self._closed = True
        for worker in self.workers:
            worker.stop()

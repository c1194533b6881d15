"""OpenLineage events: built on the sink thread, spooled to disk, sent by a thread of their own.

``handle`` turns a record into RunEvents and writes each to the durable spool (fast, local);
a separate sender thread drains the spool through the transport, oldest first, deleting an
entry only after a confirmed send. So a slow or dead backend (the HTTP transport retries for
seconds) never holds back the spool writes of later events, and a task process that exits at
its flush deadline leaves its unsent events on disk, not in memory. Failed sends back off and
are retried on later events, on the periodic tick, and by ``otel-listener lineage replay``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from otel_listener.events import Event
from otel_listener.health import Health
from otel_listener.lineage import build, coexist
from otel_listener.lineage.spool import Spool
from otel_listener.lineage.transport import Sender, make_sender

log = logging.getLogger("otel_listener")

MAX_BACKOFF = 60.0
IDLE_POLL = 5.0
DOWN_MARK_MIN = 30.0  # how long other processes skip waiting after a failed send


class LineageSink:
    name = "lineage"

    def __init__(
        self,
        spool: Spool,
        health: Health,
        namespace: str,
        sender_factory: Any,
        with_provider: bool = False,
        provider_state: tuple[bool, bool] | None = None,
    ) -> None:
        installed, enabled = provider_state if provider_state is not None else (None, None)
        self.active, line = coexist.decide(with_provider, installed, enabled)
        log.info(line)
        self.spool = spool
        self.health = health
        self.namespace = namespace
        self._sender_factory = sender_factory
        self._sender: Sender | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._cond = threading.Condition()
        self._requested = 0  # drain rounds asked for
        self._completed = 0  # drain rounds finished
        self._forced = False
        self._thread: threading.Thread | None = None

    # -- Sink protocol (sink thread) ----------------------------------------------------
    def handle(self, event: Event) -> None:
        if not self.active:
            return
        docs = build.run_events(event, self.namespace)
        for doc in docs:
            self.spool.add(doc)
        if docs:
            self._request(force=False)

    def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout``) for one send round that saw everything spooled so far.

        Everything is already safe in the spool when this runs, so while the backend is known to
        be down (in this process, or in any process of this host recently) there is nothing to
        wait for: the events stay on disk for the next send round or ``lineage replay``.
        """
        if not self.active:
            return
        target = self._request(force=True)
        if self._failures or self._backend_down():
            return  # a send round is asked for, but nobody waits for a backend known to be down
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._completed < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def tick(self) -> None:
        if self.active:
            self._request(force=False)

    # -- sender thread ------------------------------------------------------------------
    def _request(self, force: bool) -> int:
        with self._cond:
            self._requested += 1
            self._forced = self._forced or force
            target = self._requested
            self._cond.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="otel-listener-lineage-send", daemon=True)
            self._thread.start()
        return target

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._requested == self._completed:
                    self._cond.wait(IDLE_POLL)
                    if self._requested == self._completed and self.spool.entries():
                        break  # periodic retry of a spool left by a failure
                target, forced, self._forced = self._requested, self._forced, False
            try:
                self._round(forced)
            except Exception as exc:
                self.health.count_sink_error(self.name, exc)
            with self._cond:
                self._completed = max(self._completed, target)
                self._cond.notify_all()

    def _round(self, forced: bool) -> None:
        now = time.monotonic()
        if now < self._retry_at and not forced:
            return
        sender = self._get_sender()
        if sender is None:
            return
        result = self.spool.drain(sender.send, deadline=now + 30.0, wait_for_lock=True)
        if result.failed:
            self._failures += 1
            backoff = min(MAX_BACKOFF, 2.0 ** min(self._failures, 6))
            self._retry_at = time.monotonic() + backoff
            self._mark_backend_down(backoff)
            self.health.warn_once(
                "lineage:send",
                "otel_listener: lineage backend unreachable (%s via %s); %d event(s) kept in %s for replay",
                result.error,
                sender.kind,
                result.remaining,
                self.spool.folder,
            )
        elif result.sent:
            self._failures, self._retry_at = 0, 0.0
            self._mark_backend_down(0)
        if self._failures == 0:
            self.spool.sweep_stale()

    @property
    def _down_marker(self) -> Any:
        return self.spool.folder / ".backend-down-until"

    def _mark_backend_down(self, seconds: float) -> None:
        """Tell the other processes of this host not to wait for a backend that just failed."""
        try:
            if seconds > 0:
                self._down_marker.write_text(f"{time.time() + max(seconds, DOWN_MARK_MIN):.3f}")
            else:
                self._down_marker.unlink(missing_ok=True)
        except OSError:
            pass

    def _backend_down(self) -> bool:
        try:
            return float(self._down_marker.read_text()) > time.time()
        except (OSError, ValueError):
            return False

    def _get_sender(self) -> Sender | None:
        if self._sender is None:
            try:
                self._sender = self._sender_factory()
            except Exception as exc:
                self.health.count_sink_error(self.name, exc)
                self._retry_at = time.monotonic() + MAX_BACKOFF
                return None
        return self._sender


def quiet_transport_logs() -> None:
    """Per-attempt retry warnings from our own send thread: counted and logged once by us instead."""
    from otel_listener.sinks import otlp

    for name in ("urllib3.connectionpool", "openlineage.client.transport.http"):
        logger = logging.getLogger(name)
        if otlp._FILTER not in logger.filters:
            logger.addFilter(otlp._FILTER)


def make_sink(settings: Any, health: Health, spool_dir: Any, version: str, timeout_cap: float | None) -> LineageSink:
    quiet_transport_logs()
    spool = Spool(spool_dir, settings.lineage_spool_max_mb * 1024 * 1024, health.count_drop)
    return LineageSink(
        spool,
        health,
        settings.lineage_namespace,
        lambda: make_sender(settings.lineage_transport, version, timeout_cap),
        with_provider=settings.lineage_with_provider,
    )

"""The alerting sink: rules evaluated and messages delivered on the sink's own thread.

``handle`` evaluates the event (shared store, short SQLite transactions), renders each
notification and writes it to a per-destination outbox on disk (the lineage spool: durable,
multi-process, ordered), then delivers what the outbox holds. A task process that exits at
its flush deadline leaves unsent messages on disk; the next process that ticks (the scheduler,
every ``metric_export_interval``) sends them, and also sends aggregated batches once due.

Delivery per destination: retries with backoff honouring ``Retry-After`` inside the round's
deadline, a circuit breaker (no attempts while open), and a dead-letter spool for messages the
vendor rejected (4xx) or that stayed unsent longer than ``alert_dead_letter_after``;
``otel-listener alerts redeliver`` puts them back into the outbox. Delivery is at least once:
a process killed between a successful send and deleting the entry sends it again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otel_listener.alerting.destinations.base import CircuitBreaker, DeliveryError
from otel_listener.alerting.engine import Engine, Notification
from otel_listener.events import Event
from otel_listener.health import Health
from otel_listener.lineage.spool import Spool

log = logging.getLogger("otel_listener")


class AlertSink:
    name = "alerting"

    def __init__(
        self,
        engine: Engine,
        destinations: dict[str, Any],
        folder: Path,
        health: Health,
        max_bytes: int = 64 * 1024 * 1024,
        send_timeout: float = 10.0,
        dead_letter_after: float = 3600.0,
        breaker: Callable[[], CircuitBreaker] = CircuitBreaker,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.destinations = destinations
        self.folder = Path(folder)
        self.health = health
        self.send_timeout = send_timeout
        self.dead_letter_after = dead_letter_after
        self.wall_clock = wall_clock
        self.counts: Counter[str] = Counter()
        engine.on_suppressed = self._count
        self.outbox = {
            n: Spool(self.folder / "outbox" / n, max_bytes, self._drop, "alert_outbox") for n in destinations
        }
        self.dead = {
            n: Spool(self.folder / "dead-letter" / n, max_bytes, self._drop, "alert_dead_letter") for n in destinations
        }
        self.breakers = {n: breaker() for n in destinations}

    def _count(self, reason: str) -> None:
        self.counts[reason] += 1

    def _drop(self, reason: str) -> None:
        self.counts[reason] += 1
        self.health.count_drop(reason)

    # -- Sink protocol (sink thread) ---------------------------------------------------------
    def handle(self, event: Event) -> None:
        notes = self.engine.evaluate(event)
        if notes:
            self.enqueue(notes)
            self.deliver(time.monotonic() + self.send_timeout)

    def flush(self, timeout: float) -> None:
        self.enqueue(self.engine.due())
        self.deliver(time.monotonic() + timeout)

    def tick(self) -> None:
        self.flush(self.send_timeout)

    # -- outbox ------------------------------------------------------------------------------
    def enqueue(self, notes: list[Notification]) -> None:
        for note in notes:
            destination = self.destinations.get(note.destination)
            if destination is None:
                continue
            for payload in destination.render(list(note.alerts)):
                self.outbox[note.destination].add(
                    {"destination": note.destination, "created": self.wall_clock(), "payload": payload}
                )
                self.counts["rendered"] += 1

    def deliver(self, deadline: float) -> dict[str, int]:
        """One delivery round over every destination; returns messages sent per destination."""
        sent = {}
        for name, destination in self.destinations.items():
            breaker = self.breakers[name]
            if not self.outbox[name].entries() or not breaker.allow():
                continue
            result = self.outbox[name].drain(lambda entry, d=destination: self._send(d, entry, deadline), deadline)
            sent[name] = result.sent
            if result.failed:
                self.health.warn_once(
                    f"alert:{name}",
                    "otel_listener: alert destination %s failed (%s); %d message(s) wait in the outbox",
                    name,
                    result.error,
                    result.remaining,
                )
        return sent

    def _send(self, destination: Any, entry: dict, deadline: float) -> None:
        name = destination.name
        breaker = self.breakers[name]
        if not breaker.allow():
            raise DeliveryError("circuit open")
        try:
            destination.send(entry["payload"], deadline)
        except DeliveryError as exc:
            too_old = self.wall_clock() - float(entry.get("created", 0)) > self.dead_letter_after
            if exc.permanent or too_old:
                self.dead[name].add({**entry, "error": str(exc)[:500]})
                self.counts[f"dead_letter:{name}"] += 1
                self.health.warn_once(
                    f"alert-dead:{name}", "otel_listener: alert to %s moved to the dead-letter spool: %s", name, exc
                )
                return  # taken out of the outbox; the next entries go on
            breaker.failure(exc.retry_after)
            self.counts[f"failed:{name}"] += 1
            raise
        breaker.success()
        self.counts[f"sent:{name}"] += 1

    def redeliver(self, name: str | None = None) -> int:
        """Move dead letters back into the outbox (oldest first); returns how many."""
        return redeliver(self.folder, [name] if name else list(self.dead))


def destinations_on_disk(folder: Path) -> list[str]:
    """Destinations that have an outbox or dead letters under ``folder``."""
    names = set()
    for part in ("outbox", "dead-letter"):
        if (folder / part).is_dir():
            names |= {p.name for p in (folder / part).iterdir() if p.is_dir()}
    return sorted(names)


def redeliver(folder: Path, names: list[str], max_bytes: int = 64 * 1024 * 1024) -> int:
    """Move the dead letters of ``names`` back into their outboxes, oldest first (any process)."""
    moved = 0
    for name in names:
        outbox = Spool(folder / "outbox" / name, max_bytes, label="alert_outbox")

        def back(entry: dict, outbox: Spool = outbox) -> None:
            if outbox.add({k: v for k, v in entry.items() if k != "error"}) is None:
                raise DeliveryError("outbox full")

        dead = Spool(folder / "dead-letter" / name, max_bytes, label="alert_dead_letter")
        moved += dead.drain(back, wait_for_lock=True, deadline=time.monotonic() + 10).sent
    return moved


def make_sink(settings: Any, health: Health, folder: Path) -> AlertSink:
    """Build the sink from ``[otel_listener] alert_*`` settings (runs on the sink thread)."""
    from otel_listener.alerting import destinations, rules
    from otel_listener.alerting.state import SQLiteStore

    overrides = {
        "dry_run": "true" if settings.alert_dry_run else "",
        "quiet_hours": settings.alert_quiet_hours,
        "jaeger_url": settings.alert_jaeger_url,
    }
    ruleset = rules.load_file(settings.alert_rules_file, overrides)
    store = SQLiteStore(folder / "state.sqlite")
    built = {name: destinations.build(dest, ruleset.jaeger_url) for name, dest in ruleset.destinations.items()}
    return AlertSink(
        Engine(ruleset, store),
        built,
        folder,
        health,
        max_bytes=settings.alert_spool_max_mb * 1024 * 1024,
        send_timeout=settings.alert_send_timeout,
        dead_letter_after=settings.alert_dead_letter_after,
    )

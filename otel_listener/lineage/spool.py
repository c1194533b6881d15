"""A durable, bounded, multi-process on-disk queue of OpenLineage events.

Every event is written here first and removed only after its transport confirmed the send, so
neither a dead backend nor a task process that exits (or is killed) loses it.

- One file per event, written to a temporary name, fsynced and atomically renamed to
  ``<time_ns>-<pid>-<seq>.json``: readers only ever see complete entries, names sort in
  write order, and concurrent task processes on one host never share a file. A writer killed
  mid-write leaves at most a ``.tmp`` file, which readers ignore and later sweeps delete.
- Bounded in bytes: when full, the new event is dropped, counted and logged (the older,
  already queued events keep their order).
- Draining is serialized across processes by an ``flock`` on ``.lock`` (released by the kernel
  if the holder dies): each entry is sent once, oldest first, and sending stops at the first
  failure so the order is kept.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STALE_TMP_SECONDS = 600.0


@dataclass
class DrainResult:
    sent: int = 0
    failed: bool = False
    locked_out: bool = False
    error: str = ""
    remaining: int = 0


class Spool:
    def __init__(
        self, folder: Path, max_bytes: int, on_drop: Callable[[str], None] | None = None, label: str = "lineage_spool"
    ) -> None:
        self.folder = Path(folder)
        self.label = label  # prefix of drop reasons (the alert outbox reuses this spool)
        self.max_bytes = max_bytes
        self.on_drop = on_drop or (lambda reason: None)
        self._seq = itertools.count()

    # -- writing -----------------------------------------------------------------------------
    def add(self, event: dict) -> Path | None:
        """Store one event durably; ``None`` (and a counted drop) when the spool is full."""
        data = json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8", "surrogatepass")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.size_bytes() + len(data) > self.max_bytes:
            self.on_drop(f"{self.label}_full")
            return None
        stem = f"{time.time_ns():020d}-{os.getpid():08d}-{next(self._seq):08d}"
        tmp = self.folder / f".{stem}.tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        final = self.folder / f"{stem}.json"
        os.replace(tmp, final)
        return final

    # -- reading -----------------------------------------------------------------------------
    def entries(self) -> list[Path]:
        """Complete entries, oldest first."""
        try:
            return sorted(p for p in self.folder.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    def size_bytes(self) -> int:
        total = 0
        try:
            with os.scandir(self.folder) as it:
                for entry in it:
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        pass
        except FileNotFoundError:
            return 0
        return total

    def sweep_stale(self, older_than: float = STALE_TMP_SECONDS) -> int:
        """Delete temporary files of writers that died mid-write."""
        removed, now = 0, time.time()
        try:
            candidates = [p for p in self.folder.iterdir() if p.name.endswith(".tmp")]
        except FileNotFoundError:
            return 0
        for path in candidates:
            try:
                if now - path.stat().st_mtime > older_than:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    def _quarantine(self, path: Path) -> None:
        """An unreadable entry (disk trouble, hand edits) must not block the queue forever."""
        bad = self.folder / "bad"
        bad.mkdir(exist_ok=True)
        try:
            os.replace(path, bad / path.name)
        except OSError:
            pass
        self.on_drop(f"{self.label}_unreadable")

    # -- sending -----------------------------------------------------------------------------
    def drain(
        self,
        send: Callable[[dict], None],
        deadline: float | None = None,
        wait_for_lock: bool = False,
        progress: Callable[[int, Path], None] | None = None,
    ) -> DrainResult:
        """Send entries oldest first, deleting each after ``send`` returned; stop at the first failure.

        ``deadline`` is a ``time.monotonic()`` value; ``wait_for_lock`` polls for another
        process's drain to finish until then (else gives up at once).
        """
        result = DrainResult()
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as lock:
            if not self._lock(lock, deadline if wait_for_lock else None):
                result.locked_out = True
                result.remaining = len(self.entries())
                return result
            try:
                self._drain_locked(send, deadline, progress, result)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        result.remaining = len(self.entries())
        return result

    @staticmethod
    def _lock(lock: object, deadline: float | None) -> bool:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[arg-type]
                return True
            except BlockingIOError:
                if deadline is None or time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)

    def _drain_locked(
        self,
        send: Callable[[dict], None],
        deadline: float | None,
        progress: Callable[[int, Path], None] | None,
        result: DrainResult,
    ) -> None:
        while True:
            batch = self.entries()
            if not batch:
                return
            for path in batch:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                try:
                    event = json.loads(path.read_bytes())
                except FileNotFoundError:
                    continue
                except (OSError, ValueError):
                    self._quarantine(path)
                    continue
                try:
                    send(event)
                except Exception as exc:
                    result.failed, result.error = True, f"{type(exc).__name__}: {exc}"[:500]
                    return
                path.unlink(missing_ok=True)
                result.sent += 1
                if progress is not None:
                    progress(result.sent, path)

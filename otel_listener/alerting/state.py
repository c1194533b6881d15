"""State shared by every process that evaluates rules: windows, medians, dedup, batches, incidents.

Task processes come and go (one per try), so anything a rule needs across events lives here,
not in memory. :class:`StateStore` is the small interface the engine uses; :class:`SQLiteStore`
implements it in one file under the listener's ``state_dir``: WAL mode (readers never block
the writer), one short ``BEGIN IMMEDIATE`` transaction per call and a busy timeout, so many task
processes on one host can share it. Another backend (the Airflow metadata database, Redis for
several hosts) only has to implement the same methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Protocol

KEEP_DURATIONS = 50
SEEN_TTL = 7 * 86400.0


class StateStore(Protocol):
    def first_seen(self, key: str, now: float) -> bool:
        """True exactly once per ``key`` across all processes (events are evaluated once)."""

    def record_failure(self, subject: str, now: float, retry: bool) -> None: ...

    def failures_since(self, subject: str, since: float, count_retries: bool) -> int: ...

    def record_duration(self, subject: str, now: float, seconds: float) -> None: ...

    def recent_durations(self, subject: str, limit: int) -> list[float]: ...

    def set_failing(self, subject: str, failing: bool, now: float) -> bool:
        """Store whether ``subject`` is failing; return what it was before."""

    def claim(self, key: str, now: float, ttl: float) -> bool:
        """True unless ``key`` was claimed less than ``ttl`` seconds ago (dedup)."""

    def add_to_batch(self, destination: str, group: str, due: float, alert: dict) -> None: ...

    def take_due_batches(self, now: float) -> list[tuple[str, str, list[dict]]]: ...

    def take_rate_slot(self, destination: str, now: float, count: int, per: float) -> bool: ...

    def open_incident(self, key: str, now: float) -> bool:
        """True when the incident was not open yet (so it must be triggered)."""

    def close_incident(self, key: str) -> bool:
        """True when the incident was open (so it must be resolved)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS seen_at ON seen (at);
CREATE TABLE IF NOT EXISTS failures (subject TEXT NOT NULL, at REAL NOT NULL, retry INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS failures_subject ON failures (subject, at);
CREATE INDEX IF NOT EXISTS failures_at ON failures (at);
CREATE TABLE IF NOT EXISTS durations (subject TEXT NOT NULL, at REAL NOT NULL, seconds REAL NOT NULL);
CREATE INDEX IF NOT EXISTS durations_subject ON durations (subject, at);
CREATE TABLE IF NOT EXISTS status (subject TEXT PRIMARY KEY, failing INTEGER NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, destination TEXT NOT NULL, grp TEXT NOT NULL, due REAL NOT NULL, alerts TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS batches_open ON batches (destination, grp);
CREATE TABLE IF NOT EXISTS sends (destination TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (key TEXT PRIMARY KEY, opened REAL NOT NULL);
"""


class SQLiteStore:
    """:class:`StateStore` in one SQLite file (WAL, short transactions, busy timeout)."""

    def __init__(self, path: str | Path, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)

    def close(self) -> None:
        self._db.close()

    class _Tx:
        def __init__(self, store: SQLiteStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            self.store._db.execute("BEGIN IMMEDIATE")
            return self.store._db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()

    def _tx(self) -> SQLiteStore._Tx:
        return SQLiteStore._Tx(self)

    def first_seen(self, key: str, now: float) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM seen WHERE at < ?", (now - SEEN_TTL,))
            return db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, now)).rowcount == 1

    def record_failure(self, subject: str, now: float, retry: bool) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM failures WHERE at < ?", (now - SEEN_TTL,))
            db.execute("INSERT INTO failures VALUES (?, ?, ?)", (subject, now, int(retry)))

    def failures_since(self, subject: str, since: float, count_retries: bool) -> int:
        sql = "SELECT COUNT(*) FROM failures WHERE subject = ? AND at >= ?" + (
            "" if count_retries else " AND retry = 0"
        )
        with self._tx() as db:
            return int(db.execute(sql, (subject, since)).fetchone()[0])

    def record_duration(self, subject: str, now: float, seconds: float) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO durations VALUES (?, ?, ?)", (subject, now, seconds))
            db.execute(
                "DELETE FROM durations WHERE subject = ? AND rowid NOT IN "
                "(SELECT rowid FROM durations WHERE subject = ? ORDER BY at DESC LIMIT ?)",
                (subject, subject, KEEP_DURATIONS),
            )

    def recent_durations(self, subject: str, limit: int) -> list[float]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT seconds FROM durations WHERE subject = ? ORDER BY at DESC LIMIT ?", (subject, limit)
            )
            return [r[0] for r in rows]

    def set_failing(self, subject: str, failing: bool, now: float) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT failing FROM status WHERE subject = ?", (subject,)).fetchone()
            db.execute("INSERT OR REPLACE INTO status VALUES (?, ?, ?)", (subject, int(failing), now))
            return bool(row and row[0])

    def claim(self, key: str, now: float, ttl: float) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT at FROM claims WHERE key = ?", (key,)).fetchone()
            if row and now - row[0] < ttl:
                return False
            db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?)", (key, now))
            return True

    def add_to_batch(self, destination: str, group: str, due: float, alert: dict) -> None:
        with self._tx() as db:
            row = db.execute(
                "SELECT id, alerts FROM batches WHERE destination = ? AND grp = ?", (destination, group)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO batches (destination, grp, due, alerts) VALUES (?, ?, ?, ?)",
                    (destination, group, due, json.dumps([alert])),
                )
            else:
                alerts = [*json.loads(row[1]), alert]
                db.execute("UPDATE batches SET alerts = ? WHERE id = ?", (json.dumps(alerts), row[0]))

    def take_due_batches(self, now: float) -> list[tuple[str, str, list[dict]]]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, destination, grp, alerts FROM batches WHERE due <= ? ORDER BY due, id", (now,)
            ).fetchall()
            db.executemany("DELETE FROM batches WHERE id = ?", [(r[0],) for r in rows])
            return [(r[1], r[2], json.loads(r[3])) for r in rows]

    def take_rate_slot(self, destination: str, now: float, count: int, per: float) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM sends WHERE destination = ? AND at <= ?", (destination, now - per))
            used = db.execute("SELECT COUNT(*) FROM sends WHERE destination = ?", (destination,)).fetchone()[0]
            if used >= count:
                return False
            db.execute("INSERT INTO sends VALUES (?, ?)", (destination, now))
            return True

    def open_incident(self, key: str, now: float) -> bool:
        with self._tx() as db:
            return db.execute("INSERT OR IGNORE INTO incidents VALUES (?, ?)", (key, now)).rowcount == 1

    def close_incident(self, key: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM incidents WHERE key = ?", (key,)).rowcount == 1

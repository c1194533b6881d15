"""The lineage spool and sink: order, exactly-once delivery, bounds, concurrent writers, SIGKILL mid-write."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from otel_listener.events import EventKind, RunRef, TaskEvent
from otel_listener.health import Health
from otel_listener.lineage.spool import Spool
from otel_listener.sinks.lineage import LineageSink

WRITER = textwrap.dedent(
    """
    import sys
    from otel_listener.lineage.spool import Spool
    spool = Spool(sys.argv[1], 10**10)
    name, count, pad = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for i in range(count):
        spool.add({"writer": name, "seq": i, "pad": "x" * pad})
        print(i, flush=True)
    """
)


class Backend:
    """A fake transport that can be down, hang, or record what it got."""

    kind = "fake"

    def __init__(self) -> None:
        self.up = True
        self.hang = threading.Event()
        self.got: list[dict] = []

    def send(self, event: dict) -> None:
        if self.hang.is_set():
            time.sleep(5)
        if not self.up:
            raise ConnectionError("backend down")
        self.got.append(event)


def test_drain_sends_in_order_deletes_after_confirmed_send_and_stops_at_the_first_failure(tmp_path):
    spool = Spool(tmp_path, 10**6)
    for i in range(5):
        spool.add({"seq": i})
    backend = Backend()
    calls = []

    def flaky(event: dict) -> None:
        calls.append(event["seq"])
        if event["seq"] == 2 and calls.count(2) == 1:
            raise ConnectionError("503")
        backend.send(event)

    first = spool.drain(flaky)
    assert (first.sent, first.failed, first.remaining) == (2, True, 3)
    second = spool.drain(flaky)
    assert (second.sent, second.failed, second.remaining) == (3, False, 0)
    assert [e["seq"] for e in backend.got] == [0, 1, 2, 3, 4]


def test_full_spool_drops_new_events_counted(tmp_path):
    drops = []
    spool = Spool(tmp_path, 300, drops.append)
    kept = [spool.add({"seq": i, "pad": "x" * 80}) for i in range(5)]
    assert kept[0] is not None and kept[-1] is None
    assert drops and set(drops) == {"lineage_spool_full"}
    assert [json.loads(p.read_text())["seq"] for p in spool.entries()] == [i for i, k in enumerate(kept) if k]


def test_unreadable_entry_is_quarantined_not_blocking(tmp_path):
    spool = Spool(tmp_path, 10**6)
    spool.add({"seq": 0})
    (tmp_path / "00000000000000000001-00000001-00000000.json").write_text("{half")
    got = []
    assert spool.drain(got.append).remaining == 0
    assert got == [{"seq": 0}] and len(list((tmp_path / "bad").iterdir())) == 1


def _writer(folder: Path, name: str, count: int, pad: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), name, str(count), str(pad)], stdout=subprocess.PIPE, text=True
    )


def test_concurrent_writers_and_a_writer_killed_mid_write(tmp_path):
    a, b = _writer(tmp_path, "a", 300, 100), _writer(tmp_path, "b", 300, 100)
    victim = _writer(tmp_path, "victim", 10**6, 200_000)  # big entries: the kill lands mid-write
    confirmed = 0
    assert victim.stdout is not None
    while confirmed < 20:
        victim.stdout.readline()
        confirmed += 1
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    confirmed += len([line for line in victim.stdout.read().splitlines() if line.strip()])
    assert a.wait(60) == 0 and b.wait(60) == 0

    spool = Spool(tmp_path, 10**10)
    got: list[dict] = []
    result = spool.drain(got.append)
    assert result.remaining == 0 and not result.failed
    assert not (tmp_path / "bad").exists(), "no corrupt entry"
    by_writer: dict[str, list[int]] = {}
    for event in got:
        by_writer.setdefault(event["writer"], []).append(event["seq"])
    assert by_writer["a"] == list(range(300)) and by_writer["b"] == list(range(300))
    # Everything the victim finished is there, in order; only the entry being written may be missing.
    assert by_writer["victim"][:confirmed] == list(range(confirmed))
    assert confirmed <= len(by_writer["victim"]) <= confirmed + 1
    assert len(list(tmp_path.glob(".*.tmp"))) <= 1
    assert spool.sweep_stale(older_than=0) <= 1 and not list(tmp_path.glob(".*.tmp"))


def test_two_processes_draining_at_once_send_each_event_once(tmp_path):
    spool = Spool(tmp_path, 10**8)
    for i in range(200):
        spool.add({"seq": i})
    out = tmp_path.parent / "sent.jsonl"
    script = textwrap.dedent(
        """
        import json, sys
        from otel_listener.lineage.spool import Spool
        out = open(sys.argv[2], "a")
        def send(e):
            out.write(json.dumps(e) + "\\n"); out.flush()
        Spool(sys.argv[1], 10**8).drain(send, deadline=__import__("time").monotonic() + 60, wait_for_lock=True)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(out)]) for _ in range(2)]
    assert all(p.wait(60) == 0 for p in procs)
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert seqs == list(range(200))


def _event(i: int) -> TaskEvent:
    return TaskEvent(kind=EventKind.TASK_RUNNING, run=RunRef("d", f"r{i}"), task_id="t", try_number=1)


def test_sink_spools_while_the_backend_is_down_and_delivers_each_once_in_order_when_it_is_back(tmp_path):
    backend = Backend()
    backend.up = False
    sink = LineageSink(Spool(tmp_path, 10**8), Health(), "airflow", lambda: backend, provider_state=(False, False))
    for i in range(5):
        sink.handle(_event(i))
    sink.flush(2.0)
    assert backend.got == [] and len(sink.spool.entries()) == 5
    backend.up = True
    sink.handle(_event(5))  # a later event retries (a flush forces a round past the backoff)
    started = time.monotonic()
    sink.flush(5.0)
    assert time.monotonic() - started < 0.5  # the backend was down just now: the flush does not wait for it
    deadline = time.monotonic() + 10
    while len(backend.got) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["run"]["facets"]["otelListener"]["airflow"]["runId"] for e in backend.got] == [f"r{i}" for i in range(6)]
    assert sink.spool.entries() == []


def test_other_processes_do_not_wait_for_a_backend_that_just_failed(tmp_path):
    backend = Backend()
    backend.up = False
    first = LineageSink(Spool(tmp_path, 10**8), Health(), "airflow", lambda: backend, provider_state=(False, False))
    first.handle(_event(0))
    first.flush(2.0)
    assert len(first.spool.entries()) == 1
    backend.hang.set()  # even a backend that would now hang costs the next process nothing
    second = LineageSink(Spool(tmp_path, 10**8), Health(), "airflow", lambda: backend, provider_state=(False, False))
    second.handle(_event(1))
    started = time.monotonic()
    second.flush(2.0)
    assert time.monotonic() - started < 0.3
    assert len(second.spool.entries()) == 2  # both safe on disk for a later round or replay


def test_sink_flush_is_bounded_by_its_timeout_with_a_hanging_backend(tmp_path):
    backend = Backend()
    backend.hang.set()
    sink = LineageSink(Spool(tmp_path, 10**8), Health(), "airflow", lambda: backend, provider_state=(False, False))
    started = time.monotonic()
    sink.handle(_event(0))
    sink.flush(0.3)
    assert time.monotonic() - started < 1.0
    assert len(sink.spool.entries()) == 1  # on disk, safe from the process exit


def test_sink_stays_quiet_when_the_official_provider_is_active(tmp_path):
    backend = Backend()
    sink = LineageSink(Spool(tmp_path, 10**8), Health(), "airflow", lambda: backend, provider_state=(True, True))
    sink.handle(_event(0))
    sink.flush(1.0)
    assert backend.got == [] and sink.spool.entries() == []

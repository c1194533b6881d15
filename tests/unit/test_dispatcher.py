import threading
import time

from fakes import RecordingSink as Recording

from otel_listener.dispatcher import Dispatcher
from otel_listener.events import EventKind, LifecycleEvent
from otel_listener.health import Health


def ev(i=0):
    return LifecycleEvent(EventKind.COMPONENT_STARTING, f"c{i}")


class Raising(Recording):
    name = "raising"

    def handle(self, event):
        raise RuntimeError("sink broke")


class Hanging(Recording):
    name = "hanging"

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def handle(self, event):
        self.release.wait(30)

    def flush(self, timeout):
        self.release.wait(30)


def test_events_reach_sink_and_flush_waits_for_them():
    health, sink = Health(), Recording()
    dispatcher = Dispatcher([("recording", lambda: sink)], health)
    for i in range(100):
        dispatcher.submit(ev(i))
    assert dispatcher.flush(5.0)
    assert len(sink.events) == 100 and sink.flushes == 1
    assert health.snapshot()["events"] == {"component_starting": 100}


def test_a_raising_sink_does_not_affect_another_and_is_counted():
    health, good = Health(), Recording()
    dispatcher = Dispatcher([("raising", Raising), ("recording", lambda: good)], health)
    for i in range(10):
        dispatcher.submit(ev(i))
    assert dispatcher.flush(5.0)
    assert len(good.events) == 10
    assert health.snapshot()["sink_errors"] == {"raising": 10}


def test_a_hanging_sink_costs_one_deadline_and_never_blocks_the_other():
    health, good, hanging = Health(), Recording(), Hanging()
    dispatcher = Dispatcher([("hanging", lambda: hanging), ("recording", lambda: good)], health)
    started = time.monotonic()
    for i in range(5):
        dispatcher.submit(ev(i))
    submit_time = time.monotonic() - started
    assert submit_time < 1.0  # submit never waits on a sink
    started = time.monotonic()
    assert dispatcher.flush(0.3) is False
    first = time.monotonic() - started
    assert 0.3 <= first < 2.0
    assert len(good.events) == 5  # the healthy sink got everything meanwhile
    started = time.monotonic()
    assert dispatcher.flush(0.3) is False  # still stuck: no second deadline
    assert time.monotonic() - started < 0.2
    assert [o for _, o in health.take_flushes()] == ["timeout", "skipped_stuck"]
    hanging.release.set()


def test_queue_full_drops_are_counted_not_blocking():
    health, hanging = Health(), Hanging()
    dispatcher = Dispatcher([("hanging", lambda: hanging)], health, max_queue=16)
    for i in range(100):
        dispatcher.submit(ev(i))
    dropped = health.snapshot()["dropped"]
    assert dropped["queue_full:hanging"] >= 100 - 16 - 1
    hanging.release.set()


def test_a_sink_that_cannot_be_built_is_disabled_alone():
    health, good = Health(), Recording()

    def broken():
        raise ValueError("unsupported OTLP protocol 'carrier-pigeon'")

    dispatcher = Dispatcher([("broken", broken), ("recording", lambda: good)], health)
    dispatcher.submit(ev())
    assert dispatcher.flush(5.0)
    dispatcher.submit(ev())
    assert dispatcher.flush(5.0)
    assert len(good.events) == 2
    assert health.snapshot()["sink_errors"] == {"broken": 1}


def test_close_flushes_and_ignores_later_events():
    sink = Recording()
    dispatcher = Dispatcher([("recording", lambda: sink)], Health())
    dispatcher.submit(ev())
    dispatcher.close(5.0)
    dispatcher.submit(ev())
    time.sleep(0.1)
    assert len(sink.events) == 1


def test_incidents_are_logged_once(caplog):
    health = Health()
    for _ in range(50):
        health.count_sink_error("traces", ConnectionError("refused"))
    assert health.snapshot()["sink_errors"] == {"traces": 50}
    assert len([r for r in caplog.records if "sink traces failed" in r.getMessage()]) == 1

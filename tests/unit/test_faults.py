"""Fault injection, in one process that behaves like a task process (role ``task``): the real
trace, metric and in-flight sinks against broken collectors and a broken world.

For every fault: no hook raises, the last hook of each task (the one that flushes) returns
within the flush deadline, the listener counts what happened and logs it once per incident,
not once per task. The same faults under real Airflow are in tests/integration/test_faults.py.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import grpc
import pytest
from fakes import RuntimeTaskInstance
from fault_servers import GrpcErrorCollector, closed_port, self_signed_tls
from otlp_receiver import Receiver

from otel_listener import runtime
from otel_listener.dispatcher import SinkWorker
from otel_listener.listener import listener

DEADLINE = 0.5
SLACK = 0.4  # scheduling noise on 2 busy cores; far below any exporter's own timeout (10 s)
TASKS = 4


class TaskRunnerMarker:
    """What Airflow passes to ``on_starting`` in a task process."""


def run_tasks(monkeypatch, tmp_path, endpoint: str | None, extra_sinks=(), tasks: int = TASKS, **env: str):
    """Start a task-process runtime from the environment and run ``tasks`` task tries through the hooks."""
    if endpoint is not None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT", str(DEADLINE))
    monkeypatch.setenv("AIRFLOW__OTEL_LISTENER__STATE_DIR", str(tmp_path / "state"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runtime.install(None)
    listener.on_starting(component=TaskRunnerMarker())
    rt = runtime.get()
    assert rt is not None and runtime.role() == "task"
    _RUNTIMES.append(rt)
    for name, sink in extra_sinks:
        rt.dispatcher.workers.append(SinkWorker(name, lambda s=sink: s, rt.health, 100, 15.0))
    last_hook = []
    for i in range(tasks):
        ti = RuntimeTaskInstance(task_id=f"t{i}")
        listener.on_task_instance_running(previous_state="queued", task_instance=ti)
        started = time.monotonic()
        listener.on_task_instance_success(previous_state="running", task_instance=ti)
        last_hook.append(time.monotonic() - started)
    return rt, last_hook


def warnings_about(caplog, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.name == "otel_listener")


def assert_bounded(last_hook):
    assert max(last_hook) < DEADLINE + SLACK, last_hook


def assert_failed_exports_counted_once(rt, caplog, sinks=("traces", "metrics")):
    errors = rt.health.snapshot()["sink_errors"]
    for sink in sinks:
        assert errors.get(sink, 0) >= 1, errors
        # Exactly one line from this process's runtime (other tests' threads may log too: not counted).
        assert rt.health.lines_logged[f"sink:{sink}"] == 1, rt.health.lines_logged
        assert warnings_about(caplog, f"sink {sink} failed") >= 1, [r.getMessage() for r in caplog.records]
    assert rt.health.snapshot()["hook_errors"] == {}


_RUNTIMES: list = []


@pytest.fixture(autouse=True)
def _capture(caplog):
    caplog.set_level(logging.WARNING, logger="otel_listener")
    yield
    # Let this test's sink threads finish (servers are stopped by now), so nothing they log
    # lands in the next test.
    while _RUNTIMES:
        dispatcher = _RUNTIMES.pop().dispatcher
        for done in dispatcher._pending:
            done.wait(6)
        deadline = time.monotonic() + 6
        while any(w._queue for w in dispatcher.workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(DEADLINE + 0.1)  # an export in progress ends within its (capped) timeout


def test_refused_connection(monkeypatch, tmp_path, caplog):
    rt, last_hook = run_tasks(monkeypatch, tmp_path, f"http://127.0.0.1:{closed_port()}")
    assert_bounded(last_hook)
    assert_failed_exports_counted_once(rt, caplog)


def test_collector_that_accepts_but_never_answers(monkeypatch, tmp_path, caplog):
    receiver = Receiver().start()
    receiver.mode = "blackhole"
    try:
        _rt, last_hook = run_tasks(monkeypatch, tmp_path, receiver.endpoint)
    finally:
        receiver.stop()
    assert receiver.requests >= 1
    assert_bounded(last_hook)
    assert max(last_hook) >= DEADLINE - 0.05  # it did wait for the black hole...
    assert sum(last_hook) < DEADLINE + SLACK, last_hook  # ...once per process, not once per task
    assert warnings_about(caplog, "flush ended by timeout") == 1
    assert warnings_about(caplog, "flush ended by skipped_stuck") == 1


def test_slow_collector_within_the_deadline_still_gets_everything(monkeypatch, tmp_path, caplog):
    receiver = Receiver().start()
    receiver.mode, receiver.delay = "slow", 0.1
    try:
        rt, last_hook = run_tasks(monkeypatch, tmp_path, receiver.endpoint, AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT="2")
        assert receiver.wait_for(lambda r: len(r.spans) == TASKS, timeout=10)
    finally:
        receiver.stop()
    assert max(last_hook) < 2 + SLACK
    assert min(last_hook) >= 0.1  # the task really waited for the (slow) confirmation
    assert rt.health.snapshot()["sink_errors"] == {}
    assert rt.health.lines_logged == {}  # not one warning from this process


def test_slow_collector_beyond_the_deadline_costs_one_deadline(monkeypatch, tmp_path, caplog):
    receiver = Receiver().start()
    receiver.mode, receiver.delay = "slow", 5.0
    try:
        _rt, last_hook = run_tasks(monkeypatch, tmp_path, receiver.endpoint)
    finally:
        receiver.stop()
    assert_bounded(last_hook)
    assert warnings_about(caplog, "flush ended by timeout") == 1


def test_http_503(monkeypatch, tmp_path, caplog):
    receiver = Receiver().start()
    receiver.mode = "error"
    try:
        rt, last_hook = run_tasks(monkeypatch, tmp_path, receiver.endpoint)
    finally:
        receiver.stop()
    assert receiver.requests >= TASKS
    assert_bounded(last_hook)
    assert_failed_exports_counted_once(rt, caplog)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL])
def test_grpc_errors(monkeypatch, tmp_path, caplog, code):
    collector = GrpcErrorCollector(code).start()
    try:
        rt, last_hook = run_tasks(monkeypatch, tmp_path, collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    finally:
        collector.stop()
    assert collector.calls >= 1
    assert_bounded(last_hook)
    assert_failed_exports_counted_once(rt, caplog)


def test_dns_name_that_does_not_resolve(monkeypatch, tmp_path, caplog):
    real = socket.getaddrinfo
    asked = []

    def getaddrinfo(host, *args, **kwargs):  # the resolver's answer, without sending a query anywhere
        if str(host).endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    rt, last_hook = run_tasks(monkeypatch, tmp_path, "http://collector.example.invalid:4318")
    assert asked
    assert_bounded(last_hook)
    assert_failed_exports_counted_once(rt, caplog)


def _no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE win over the exporter's certificate: not under test."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_tls_endpoint_with_an_untrusted_certificate(monkeypatch, tmp_path, caplog):
    _no_ca_bundle_override(monkeypatch)
    context, _cert = self_signed_tls(tmp_path)
    receiver = Receiver(tls=context).start()
    try:
        rt, last_hook = run_tasks(monkeypatch, tmp_path, receiver.endpoint)
    finally:
        receiver.stop()
    assert receiver.endpoint.startswith("https://") and receiver.spans == []
    assert_bounded(last_hook)
    assert_failed_exports_counted_once(rt, caplog)


def test_tls_certificate_path_that_does_not_exist(monkeypatch, tmp_path, caplog):
    _no_ca_bundle_override(monkeypatch)
    context, cert = self_signed_tls(tmp_path)
    receiver = Receiver(tls=context).start()
    try:
        rt, last_hook = run_tasks(
            monkeypatch, tmp_path, receiver.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE=str(tmp_path / "missing.pem")
        )
    finally:
        receiver.stop()
    assert_bounded(last_hook)
    assert receiver.spans == []
    assert_failed_exports_counted_once(rt, caplog)
    # control: the right certificate makes the same endpoint work
    caplog.clear()
    receiver = Receiver(tls=context).start()
    try:
        rt, _ = run_tasks(monkeypatch, tmp_path, receiver.endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE=str(cert))
        assert receiver.wait_for(lambda r: len(r.spans) == TASKS, timeout=10)
    finally:
        receiver.stop()
    assert rt.health.snapshot()["sink_errors"] == {}


def test_state_dir_not_writable(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    receiver = Receiver().start()
    try:
        rt, last_hook = run_tasks(
            monkeypatch, tmp_path, receiver.endpoint, AIRFLOW__OTEL_LISTENER__STATE_DIR=str(blocker / "state")
        )
        assert receiver.wait_for(lambda r: len(r.spans) == TASKS, timeout=10)  # traces unaffected
    finally:
        receiver.stop()
    assert_bounded(last_hook)
    assert rt.health.snapshot()["sink_errors"].get("inflight", 0) == 2 * TASKS  # marker write and removal
    assert warnings_about(caplog, "sink inflight failed") == 1


def test_corrupt_config_values(monkeypatch, tmp_path, caplog):
    receiver = Receiver().start()
    try:
        rt, last_hook = run_tasks(
            monkeypatch,
            tmp_path,
            receiver.endpoint,
            AIRFLOW__OTEL_LISTENER__QUEUE_SIZE="-5",
            AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL="soon",
            AIRFLOW__OTEL_LISTENER__MAX_STACKTRACE_CHARS="1e999",
            OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="carrier-pigeon",  # this one sink cannot be built
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="never",  # nor this one
        )
    finally:
        receiver.stop()
    assert_bounded(last_hook)
    assert rt.settings.queue_size == 10_000 and len(rt.settings.problems) == 3
    assert {w.name: w.disabled for w in rt.dispatcher.workers} == {"inflight": False, "traces": True, "metrics": True}
    assert warnings_about(caplog, "metrics sink disabled") == 1
    assert warnings_about(caplog, "traces sink disabled") == 1
    assert rt.health.snapshot()["hook_errors"] == {}


class Raising:
    name = "raising"

    def handle(self, event):
        raise RuntimeError("sink bug")

    def flush(self, timeout):
        raise RuntimeError("sink bug")

    def tick(self):
        pass


class Hanging:
    name = "hanging"

    def __init__(self):
        self.release = threading.Event()

    def handle(self, event):
        self.release.wait(30)

    def flush(self, timeout):
        self.release.wait(30)

    def tick(self):
        pass


def test_a_raising_sink_and_a_hanging_sink_beside_the_real_ones(monkeypatch, tmp_path, caplog):
    receiver, hanging = Receiver().start(), Hanging()
    try:
        rt, last_hook = run_tasks(
            monkeypatch, tmp_path, receiver.endpoint, extra_sinks=[("raising", Raising()), ("hanging", hanging)]
        )
        # the real sinks delivered every task although one neighbour raises and one never returns:
        # flushes after the first one skip only the stuck sink
        assert receiver.wait_for(lambda r: len(r.spans) == TASKS, timeout=10)
    finally:
        hanging.release.set()
        receiver.stop()
    assert_bounded(last_hook)
    assert rt.health.snapshot()["sink_errors"].get("raising", 0) >= TASKS
    assert warnings_about(caplog, "sink raising failed") == 1
    assert warnings_about(caplog, "flush ended by timeout") == 1

"""In-process benchmarks: on-path hook cost, end-of-task flush, throughput, burst memory,
scheduler-side DAG-run hook cost and import time.

Run through ``benchmarks/run.py`` (``make bench``); each function returns a JSON-able dict.
Every measurement is bounded in count and time and talks only to loopback.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fakes import T0, FakeTask, OrmDagRun, OrmTaskInstance, RuntimeTaskInstance  # noqa: E402
from fault_servers import closed_port  # noqa: E402


def percentiles(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    n = len(ordered)
    return {
        "n": n,
        "p50_us": round(ordered[n // 2], 2),
        "p99_us": round(ordered[min(n - 1, int(n * 0.99))], 2),
        "max_us": round(ordered[-1], 2),
        "mean_us": round(statistics.fmean(ordered), 2),
    }


class NullCollector:
    """OTLP/HTTP endpoint on loopback that accepts everything (``mode='ok'``) or never answers."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.requests = 0
        self._release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                if outer.mode == "blackhole":
                    outer._release.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def _fresh_runtime(endpoint: str, role: str, **settings: str) -> Any:
    """A real runtime (real trace, metric and in-flight sinks) exporting to ``endpoint``."""
    import tempfile

    from otel_listener import runtime

    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    os.environ["AIRFLOW__OTEL_LISTENER__STATE_DIR"] = tempfile.mkdtemp(prefix="otel-bench-")
    for key, value in settings.items():
        os.environ[f"AIRFLOW__OTEL_LISTENER__{key.upper()}"] = value
    runtime.install(None)
    runtime.set_role(role)
    rt = runtime.get()
    assert rt is not None
    return rt


def _wait_idle(rt: Any, timeout: float = 5.0) -> None:
    """Until every sink thread has handled and exported what it was given (as between two hooks)."""
    rt.dispatcher.flush(timeout)
    time.sleep(0.002)


def realistic_ti(i: int, state: str = "success") -> RuntimeTaskInstance:
    return RuntimeTaskInstance(
        dag_id="etl_daily_orders",
        task_id=f"transform.partition_{i % 50:03d}",
        run_id="scheduled__2026-11-24T10:00:00+00:00",
        try_number=1 + i % 2,
        max_tries=2,
        map_index=i % 8,
        start_date=T0 + timedelta(seconds=5),
        end_date=T0 + timedelta(seconds=9),
        state=state,
        hostname="worker-1.example.internal",
        rendered_map_index=f"region=eu-{i % 8}",
        task=FakeTask(task_type="PythonOperator", owner="data-platform", retries=2),
    )


def hook_cost(calls: int) -> dict[str, Any]:
    """Time inside each hook implementation, paced like a task process (sink threads idle).

    The end hooks of a task process also flush (wait for the export, bounded by the deadline):
    that wait is reported separately as ``final_flush``; ``hooks`` is the build + hand-off the
    task always pays. Role "scheduler" is used for the hand-off rows so no flush is mixed in.
    """
    from otel_listener import runtime
    from otel_listener.listener import listener

    collector = NullCollector()
    out: dict[str, Any] = {"hooks": {}, "final_flush": {}}
    try:
        rt = _fresh_runtime(collector.endpoint, "scheduler")
        import otel_listener.listener as listener_module

        listener_module._task_role = lambda ti: "scheduler"  # hand-off only; flush measured below
        error = ValueError("upstream API returned 500: " + "x" * 200)
        run = OrmDagRun(state="running", end_date=None)
        cases = {  # name -> (argument builder, run outside the timed region; the hook call)
            "on_task_instance_running": (
                lambda i: realistic_ti(i, "running"),
                lambda ti: listener.on_task_instance_running("queued", ti),
            ),
            "on_task_instance_success": (realistic_ti, lambda ti: listener.on_task_instance_success("running", ti)),
            "on_task_instance_failed": (
                lambda i: realistic_ti(i, "up_for_retry"),
                lambda ti: listener.on_task_instance_failed("running", ti, error),
            ),
            "on_task_instance_skipped": (
                lambda i: realistic_ti(i, "skipped"),
                lambda ti: listener.on_task_instance_skipped("running", ti),
            ),
            "on_dag_run_running": (lambda i: run, lambda r: listener.on_dag_run_running(r, "ok")),
        }
        for name, (make, call) in cases.items():
            for i in range(50):  # warm-up: sink threads start, SDK imported off-path
                call(make(i))
            _wait_idle(rt)
            samples = []
            for i in range(calls):
                argument = make(i)
                t0 = time.perf_counter_ns()
                call(argument)
                samples.append((time.perf_counter_ns() - t0) / 1000)
                _wait_idle(rt)
            out["hooks"][name] = percentiles(samples)
        assert sum(rt.health.snapshot()["hook_errors"].values()) == 0, rt.health.snapshot()
        assert not rt.health.snapshot()["dropped"], rt.health.snapshot()
        listener_module._task_role = _original_task_role
        # End-of-task flush, live collector and dead endpoint, as a task process does it.
        for label, endpoint in (
            ("live_collector", collector.endpoint),
            ("refused", f"http://127.0.0.1:{closed_port()}"),
        ):
            rt = _fresh_runtime(endpoint, "task")
            samples = []
            for i in range(min(calls, 300)):
                ti = realistic_ti(i)
                listener.on_task_instance_running("queued", ti)
                _wait_idle(rt)
                t0 = time.perf_counter_ns()
                listener.on_task_instance_success("running", ti)
                samples.append((time.perf_counter_ns() - t0) / 1000)
            out["final_flush"][label] = percentiles(samples)
    finally:
        runtime.install(None)
        collector.stop()
    return out


from otel_listener.listener import _task_role as _original_task_role  # noqa: E402


def throughput(events: int) -> dict[str, Any]:
    """Events/s through the dispatcher into the real OTLP exporters, this process on one core.

    The collector runs in a child process on the other core so its decoding is not counted.
    """
    child = subprocess.Popen([sys.executable, __file__, "serve"], stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        endpoint = child.stdout.readline().strip()
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {0})
            os.sched_setaffinity(child.pid, {1 % os.cpu_count()})
        from otel_listener import runtime
        from otel_listener.adapter import task_event
        from otel_listener.events import EventKind

        rt = _fresh_runtime(endpoint, "scheduler", queue_size=str(events + 10), metric_export_interval="3600")
        prebuilt = [
            task_event(EventKind.TASK_SUCCESS, realistic_ti(i), role="scheduler", previous_state="running")
            for i in range(events)
        ]
        rt.dispatcher.submit(prebuilt[0])
        rt.dispatcher.flush(30)  # sinks built, SDK imported: not part of the rate
        cpu0, t0 = time.process_time(), time.perf_counter()
        for event in prebuilt:
            rt.dispatcher.submit(event)
        complete = rt.dispatcher.flush(120)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        snap = rt.health.snapshot()
        return {
            "events": events,
            "seconds": round(seconds, 3),
            "events_per_s": round(events / seconds),
            "cpu_us_per_event": round(cpu / events * 1e6, 1),
            "complete": complete,
            "sink_errors": snap["sink_errors"],
            "dropped": snap["dropped"],
        }
    finally:
        from otel_listener import runtime

        runtime.install(None)
        child.terminate()
        child.wait(10)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def burst_memory(events: int, queue_size: int) -> dict[str, Any]:
    """Peak RSS of a fresh process that fires ``events`` hooks at a black-holed collector."""
    script = f"""
import json, resource, sys, time
sys.path[:0] = {[str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]!r}
import micro
collector = micro.NullCollector("blackhole")
rt = micro._fresh_runtime(collector.endpoint, "scheduler", queue_size="{queue_size}")
from otel_listener.listener import listener
import otel_listener.listener as lm
lm._task_role = lambda ti: "scheduler"
tis = [micro.realistic_ti(i) for i in range(64)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
for i in range({events}):
    listener.on_task_instance_success("running", tis[i % 64])
elapsed = time.perf_counter() - t0
time.sleep(1.0)
snap = rt.health.snapshot()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("BURST " + json.dumps({{"rss_before_kb": before, "peak_rss_kb": peak,
  "submit_seconds": elapsed, "dropped": snap["dropped"], "events": snap["events"]}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    data = json.loads(next(ln for ln in result.stdout.splitlines() if ln.startswith("BURST "))[6:])
    dropped = sum(data["dropped"].values())
    return {
        "events_fired": events,
        "queue_size_per_sink": queue_size,
        "dropped": dropped,
        "dropped_by_reason": data["dropped"],
        "peak_rss_mb": round(data["peak_rss_kb"] / 1024, 1),
        "rss_growth_mb": round((data["peak_rss_kb"] - data["rss_before_kb"]) / 1024, 1),
        "hook_us_mean_under_burst": round(data["submit_seconds"] / events * 1e6, 2),
    }


def scheduler_side(task_instances: int, repeats: int) -> dict[str, Any]:
    """``on_dag_run_success``/``failed`` with hundreds of task instances, a third decided by the scheduler.

    The task instances are read by the hook through the run's session; here that read returns
    ORM-shaped fakes, so the number is the listener's own work (snapshot, synthesized spans,
    scheduling delays, hand-off), not the database query, which Airflow's own scheduling loop
    makes for the same run anyway.
    """
    from otel_listener import adapter, runtime
    from otel_listener.listener import listener

    collector = NullCollector()
    try:
        rt = _fresh_runtime(collector.endpoint, "scheduler")
        run = OrmDagRun(state="failed")
        tis = []
        for i in range(task_instances):
            decided = i % 3 == 0
            tis.append(
                OrmTaskInstance(
                    task_id=f"step_{i:04d}",
                    try_number=0 if decided else 1,
                    state="upstream_failed" if decided else "success",
                    hostname="" if decided else "worker-1",
                    start_date=None if decided else T0 + timedelta(seconds=i % 30),
                    end_date=None if decided else T0 + timedelta(seconds=i % 30 + 2),
                    queued_dttm=None if decided else T0,
                    dag_run=run,
                )
            )
        original = (adapter._run_task_instances, adapter._upstream_runs)
        adapter._run_task_instances = lambda dag_run: tis
        adapter._upstream_runs = lambda dag_run: ()
        try:
            samples = []
            for _ in range(repeats):
                _wait_idle(rt, 30)
                t0 = time.perf_counter_ns()
                listener.on_dag_run_failed(run, "task_failure")
                samples.append((time.perf_counter_ns() - t0) / 1000)
        finally:
            adapter._run_task_instances, adapter._upstream_runs = original
        assert sum(rt.health.snapshot()["hook_errors"].values()) == 0
        result = percentiles(samples)
        result["task_instances"] = task_instances
        result["synthesized_spans_per_run"] = len(tis) // 3 + (1 if len(tis) % 3 else 0)
        return result
    finally:
        runtime.install(None)
        collector.stop()


def import_cost(python: str, repeats: int = 5) -> dict[str, Any]:
    """What importing the plugin adds to a task process that already imported Airflow's task runner."""
    script = """
import sys, time, json
import airflow.sdk.execution_time.task_runner  # what every task process imports anyway
import airflow.plugins_manager, airflow.listeners  # imported by every task process to load plugins
before = set(sys.modules)
t0 = time.perf_counter()
import otel_listener.plugin, otel_listener.listener
t1 = time.perf_counter()
from otel_listener import runtime
runtime.set_role("task")
rt = runtime.get()
t2 = time.perf_counter()
new = sorted(set(sys.modules) - before)
result = {"import_ms": (t1 - t0) * 1000, "first_hook_runtime_ms": (t2 - t1) * 1000, "new_modules": new}
print("RESULT " + json.dumps(result))
"""
    runs = []
    for _ in range(repeats):
        result = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        runs.append(_result_line(result.stdout))
    sink_script = """
import sys, time, json
import airflow.sdk.execution_time.task_runner
t0 = time.perf_counter()
import otel_listener.sinks.traces, otel_listener.sinks.metrics
from opentelemetry.exporter.otlp.proto.http import trace_exporter, metric_exporter
print("RESULT " + json.dumps({"sink_import_ms": (time.perf_counter() - t0) * 1000}))
"""
    sinks = []
    for _ in range(repeats):
        result = subprocess.run([python, "-c", sink_script], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-3000:])
        sinks.append(_result_line(result.stdout)["sink_import_ms"])
    return {
        "plugin_import_ms_median": round(statistics.median(r["import_ms"] for r in runs), 2),
        "first_hook_runtime_build_ms_median": round(statistics.median(r["first_hook_runtime_ms"] for r in runs), 2),
        "modules_added_by_plugin": runs[-1]["new_modules"],
        "sdk_and_exporter_import_ms_median_off_path": round(statistics.median(sinks), 1),
    }


def _result_line(stdout: str) -> dict[str, Any]:
    return json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))[7:])


def _serve() -> None:
    collector = NullCollector()
    print(collector.endpoint, flush=True)
    threading.Event().wait(600)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        _serve()
    else:
        print(json.dumps({"hooks": hook_cost(500)}, indent=1))

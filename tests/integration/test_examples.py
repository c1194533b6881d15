"""The example DAGs in ``dags/``: each runs under real Airflow and shows its topic in the telemetry.

Every example is run with ``airflow dags test`` (tasks, hooks and the DAG-run end in one
process) against the local OTLP receiver. Each test asserts the run's final state, that no
file in ``dags/`` has an import error, and something specific to the example's topic in the
exported spans and metrics, cross-checked with what the example's tasks observed in-process
(their XCom return values, read from the metadata database) and logged.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from otlp_receiver import Receiver, Span

from otel_listener.testing.cluster import AirflowHome

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "dags"

# Curriculum sections 52.1 and 52.3: file name (= dag_id) -> tags.
CURRICULUM_TAGS = {
    "52_01_01_creating_listener_plugin": ["reference", "core", "beginner", "success"],
    "52_01_02_on_task_instance_running": ["reference", "core", "beginner", "success"],
    "52_01_03_on_task_instance_success": ["reference", "core", "beginner", "success"],
    "52_01_04_on_task_instance_failed": ["reference", "core", "beginner", "success"],
    "52_01_05_dag_level_listeners": ["reference", "core", "intermediate", "success"],
    "52_01_06_multiple_listeners": ["reference", "core", "intermediate", "success"],
    "52_02_02_external_notifications": ["reference", "patterns", "intermediate", "success"],
    "52_02_04_custom_alerting": ["reference", "patterns", "intermediate", "success"],
    "52_02_06_data_lineage_events": ["reference", "patterns", "advanced", "success"],
    "52_06_01_slack_integration": ["reference", "patterns", "intermediate", "success"],
    "52_06_02_pagerduty_integration": ["reference", "patterns", "intermediate", "success"],
    "52_10_01_sla_monitoring": ["reference", "patterns", "advanced", "success"],
    "52_03_01_method_signatures": ["reference", "core", "intermediate", "success"],
    "52_03_02_accessing_task_instance": ["reference", "core", "intermediate", "success"],
    "52_03_03_accessing_context": ["reference", "core", "intermediate", "success"],
    "52_03_04_error_handling_listeners": ["reference", "core", "intermediate", "success"],
    "52_03_05_async_listeners": ["reference", "core", "advanced", "success"],
    "52_03_06_listener_configuration": ["reference", "core", "intermediate", "success"],
}

TASK_HOOKS = {
    "on_task_instance_running",
    "on_task_instance_success",
    "on_task_instance_failed",
    "on_task_instance_skipped",
}
ALL_HOOKS = TASK_HOOKS | {
    "on_starting",
    "before_stopping",
    "on_dag_run_running",
    "on_dag_run_success",
    "on_dag_run_failed",
    "on_asset_created",
    "on_asset_alias_created",
    "on_asset_changed",
    "on_asset_event_emitted",
    "on_new_dag_import_error",
    "on_existing_dag_import_error",
}
ERROR = 2  # OTLP status code


# -- running an example --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    """One migrated Airflow home whose DAGs folder is the repo's ``dags/``, shared by this module."""
    home = AirflowHome(tmp_path_factory.mktemp("examples-airflow"), EXAMPLES_DIR)
    home.migrate()
    return home


def _json_tail(stdout: str) -> Any:
    """The JSON document a CLI command printed after its log lines."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("[", "{")):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON in output:\n{stdout[-2000:]}")


@pytest.fixture(scope="module")
def import_errors(examples_home: AirflowHome) -> list[dict]:
    """Import errors of every file in ``dags/``, as Airflow's own parser reports them."""
    result = examples_home.airflow("dags", "list-import-errors", "--local", "--output", "json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return _json_tail(result.stdout)


def ns(iso: str) -> int:
    """An ISO timestamp as the span sink converts it to nanoseconds."""
    value = datetime.fromisoformat(iso)
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


@dataclass
class Run:
    """One finished ``airflow dags test`` run of an example and what it exported."""

    dag_id: str
    run_id: str
    state: str
    output: str
    xcom: dict[tuple[str, int], Any]
    spans: list[Span]
    receiver: Receiver

    @property
    def root(self) -> Span:
        (root,) = [s for s in self.spans if s.name == f"dag_run {self.dag_id}"]
        return root

    @property
    def task_spans(self) -> list[Span]:
        return [s for s in self.spans if s.name.startswith("task ")]

    def span(self, task_id: str, try_number: int = 1, map_index: int = -1) -> Span:
        (span,) = [
            s
            for s in self.task_spans
            if s.attributes["airflow.task_id"] == task_id
            and s.attributes["airflow.try_number"] == try_number
            and s.attributes["airflow.map_index"] == map_index
        ]
        return span

    def ret(self, task_id: str, map_index: int = -1) -> Any:
        return self.xcom[(task_id, map_index)]

    def metric(self, name: str, **labels: Any) -> float:
        return self.receiver.metric_sum(name, **labels)

    def count(self, name: str, **labels: Any) -> int:
        return self.receiver.histogram_count(name, **labels)


def run_example(
    home: AirflowHome, receiver: Receiver, dag_id: str, conf: dict | None = None, env: dict[str, str] | None = None
) -> Run:
    args = ["dags", "test", dag_id]
    if conf is not None:
        args += ["--conf", json.dumps(conf)]
    result = home.airflow(*args, env=home.env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, **(env or {})))
    output = result.stdout + result.stderr
    runs = home.query("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", dag_id)
    assert runs, f"no run of {dag_id} was created:\n{output[-4000:]}"
    run_id, state = runs[0]
    rows = home.query(
        "SELECT task_id, map_index, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
        dag_id,
        run_id,
    )
    xcom = {(task_id, map_index): json.loads(value) for task_id, map_index, value in rows}
    receiver.wait_for(lambda r: any(s.name == f"dag_run {dag_id}" for s in r.spans), 15)
    spans = [
        s
        for s in receiver.spans
        if s.attributes.get("airflow.dag_id") == dag_id and s.attributes.get("airflow.run_id") == run_id
    ]
    return Run(dag_id, run_id, state, output, xcom, spans, receiver)


def assert_one_trace_under_root(run: Run) -> None:
    root = run.root
    assert len({s.trace_id for s in run.spans}) == 1
    assert all(s.parent_span_id == root.span_id for s in run.task_spans), [s.name for s in run.spans]


# -- topic-specific checks -----------------------------------------------------------------------


def check_creating_listener_plugin(run: Run) -> None:
    reg = run.ret("inspect_registration")
    assert reg["entry_point"] == "otel_listener.plugin:OtelListenerPlugin"
    assert reg["plugin_name"] == "otel_listener"
    assert reg["plugin_listeners"] == ["otel_listener.listener.OtelListener"]
    assert reg["registered_in_task_manager"] is True
    assert set(reg["hooks_with_spec_in_task_manager"]) == TASK_HOOKS | {"on_starting", "before_stopping"}
    assert set(reg["hooks_with_spec_in_task_manager"]) | set(reg["other_hooks_implemented"]) == ALL_HOOKS
    live = run.ret("listener_is_live")
    assert live["enabled"] is True
    assert live["task_running_events_in_this_process"] == 2  # both tasks, counted before their code ran
    assert {"traces", "metrics"} <= set(live["sinks"])
    assert live["hook_errors"] == {}
    # The loaded listener is what produced the telemetry: one span and one running event per task.
    assert {s.attributes["airflow.task_id"] for s in run.task_spans} == {"inspect_registration", "listener_is_live"}
    assert all(s.attributes["airflow.process.role"] == "dags-test" for s in run.spans)
    assert run.root.resource["service.name"] == "airflow"
    assert run.metric("otel_listener.events", event="task_running") == 2
    assert run.metric("airflow.dag_run.outcomes", dag_id=run.dag_id, outcome="success") == 1


def check_on_task_instance_running(run: Run) -> None:
    first, second = run.ret("announce_start"), run.ret("second_step")
    # The running hook had already fired (and was counted) when each task's code started.
    assert first["running_events_seen_before_execute"] == 1
    assert second["running_events_seen_before_execute"] == 2
    assert first["outcome"] == "running" and first["process_role"] == "dags-test"
    for view in (first, second):
        span = run.span(view["task_id"])
        # The task knew its span's ids and start time from the running event before the span existed.
        assert span.span_id == view["span_id"]
        assert span.trace_id == view["trace_id"]
        assert span.start_ns == ns(view["start_date"])
        assert span.attributes["airflow.hostname"] == view["hostname"]
        assert span.attributes["airflow.operator"] == view["operator"]
    assert f"TASK STARTED announce_start try 1 on {first['hostname']}" in run.output
    assert f"traceparent={first['traceparent']}" in run.output
    assert run.metric("otel_listener.events", event="task_running") == 2
    running = [p for p in run.receiver.points if p.name == "airflow.task.running"]
    assert running and sum(p.value for p in running) == 0  # +1 at running, -1 at the end of each try


def check_on_task_instance_success(run: Run) -> None:
    result, report = run.ret("compute_total"), run.ret("record_completion")
    assert report["pulled_return_value"] == result and report["same_as_argument"] is True
    assert report["success_events_seen_in_this_process"] == 1  # compute_total's success hook had fired
    span = run.span("compute_total")
    assert span.span_id == report["compute_total_span_id"]
    assert span.status_code == 0
    assert span.attributes["airflow.task.outcome"] == "success"
    assert span.attributes["airflow.task.state"] == "success"
    assert span.attributes["cicd.pipeline.task.run.result"] == "success"
    assert not span.events
    seconds = (span.end_ns - span.start_ns) / 1e9
    assert seconds >= 0.3  # the work the task did is inside its span
    labels = {"dag_id": run.dag_id, "task_id": "compute_total", "outcome": "success"}
    assert run.count("airflow.task.duration", **labels) == 1
    assert abs(run.metric("airflow.task.duration", **labels) - seconds) < 0.001  # completion time recorded
    assert run.metric("airflow.task.outcomes", **labels) == 1
    assert run.metric("airflow.task.outcomes", dag_id=run.dag_id, outcome="success") == 2
    assert "return_value" not in json.dumps([s.attributes for s in run.spans])  # no payloads on spans


def check_on_task_instance_failed(run: Run) -> None:
    retried = run.span("flaky_extract", try_number=1)
    assert retried.status_code == ERROR
    assert retried.attributes["airflow.task.outcome"] == "retry"
    assert retried.attributes["airflow.task.state"] == "up_for_retry"
    assert retried.attributes["airflow.task.will_retry"] is True
    assert retried.attributes["cicd.pipeline.task.run.result"] == "failure"
    (event,) = retried.events
    assert event["name"] == "exception"
    assert event["exception.type"] == "ConnectionError"
    assert event["exception.message"] == "simulated: upstream API answered 503 on try 1"
    assert 'raise ConnectionError("simulated' in event["exception.stacktrace"]
    second = run.span("flaky_extract", try_number=2)
    assert second.status_code == 0 and second.attributes["airflow.task.outcome"] == "success"
    final = run.span("always_fails")
    assert final.status_code == ERROR
    assert final.attributes["airflow.task.outcome"] == "failed"
    assert final.attributes["airflow.task.state"] == "failed"
    assert final.attributes["airflow.task.will_retry"] is False
    assert final.events[0]["exception.type"] == "ValueError"
    assert final.events[0]["exception.message"] == "simulated: row 42 has no customer id"
    for task_id, outcome in (("flaky_extract", "retry"), ("flaky_extract", "success"), ("always_fails", "failed")):
        assert run.metric("airflow.task.outcomes", dag_id=run.dag_id, task_id=task_id, outcome=outcome) == 1
    # The alert task linked each failed try to the span that was exported for it.
    report = run.ret("alert_on_failures")
    assert report["failed_events_seen"] == 2
    assert {a["task_id"]: a["span_id"] for a in report["alerts"]} == {
        "flaky_extract": retried.span_id,
        "always_fails": final.span_id,
    }
    assert all(a["trace_id"] == retried.trace_id for a in report["alerts"])
    assert run.ret("flaky_extract")["failed_events_seen"] >= 1
    assert run.root.status_code == 0 and run.root.attributes["cicd.pipeline.result"] == "success"
    assert run.metric("airflow.dag_run.outcomes", dag_id=run.dag_id, outcome="success") == 1


def check_dag_level_listeners(run: Run) -> None:
    described = run.ret("describe_run")
    root = run.root
    assert root.parent_span_id == ""
    assert root.span_id == described["dag_run_span_id"]
    assert root.trace_id == described["trace_id"]
    assert_one_trace_under_root(run)
    for span in run.task_spans:
        assert root.start_ns <= span.start_ns <= span.end_ns <= root.end_ns, span.name
    assert {s.attributes["airflow.task_id"] for s in run.task_spans} == {
        "describe_run",
        "fan_out_a",
        "fan_out_b",
        "join",
        "skip_on_purpose",
        "never_runs",
    }
    attrs = root.attributes
    assert attrs["airflow.dag_run.state"] == "success"
    assert attrs["cicd.pipeline.result"] == "success"
    assert attrs["airflow.run_type"] == described["run_type"] == "manual"
    assert attrs["airflow.logical_date"] == described["logical_date"]
    assert attrs["airflow.dag_run.triggering_user"] == described["triggering_user"]
    assert attrs["airflow.process.role"] == "dags-test"
    # Only the DAG-run end hook can report a task the scheduler skipped without running it.
    never = run.span("never_runs", try_number=0)
    assert never.attributes["airflow.task.synthesized"] is True
    assert never.attributes["airflow.task.outcome"] == "skipped"
    skipped = run.span("skip_on_purpose")
    assert skipped.attributes["airflow.task.synthesized"] is False
    assert skipped.attributes["airflow.task.outcome"] == "skipped"
    # DAG-wide metrics.
    assert run.metric("airflow.dag_run.outcomes", dag_id=run.dag_id, outcome="success", run_type="manual") == 1
    assert run.metric("airflow.dag_run.outcomes", dag_id=run.dag_id, outcome="failed") == 0
    assert run.count("airflow.dag_run.duration", dag_id=run.dag_id, outcome="success") == 1
    run_seconds = (root.end_ns - root.start_ns) / 1e9
    assert abs(run.metric("airflow.dag_run.duration", dag_id=run.dag_id) - run_seconds) < 0.001
    assert run.metric("airflow.task.outcomes", dag_id=run.dag_id, task_id="never_runs", outcome="skipped") == 1


def check_multiple_listeners(run: Run) -> None:
    before = run.ret("show_call_order")
    assert all(order == ["OtelListener (tryfirst)"] for order in before.values()), before
    after = run.ret("add_neighbours")
    expected = ["OtelListener (tryfirst)", "AuditListener", "RaisingListener", "SilencedListener"]
    for hook in ("on_task_instance_running", "on_task_instance_success", "on_task_instance_failed"):
        assert after[hook] == expected
    seen = run.ret("observe_isolation")
    assert seen["neighbours_in_this_process"] == ["AuditListener", "RaisingListener", "SilencedListener"]
    # AuditListener runs before the raising one, SilencedListener after it: never called.
    assert seen["audit_calls"] == [
        "on_task_instance_success:add_neighbours",
        "on_task_instance_running:observe_isolation",
    ]
    assert seen["silenced_calls"] == []
    assert seen["otel_listener_hook_errors"] == {}
    assert seen["otel_listener_events"]["task_success"] == 2
    assert "RaisingListener: boom in success hook of add_neighbours" in run.output
    assert "RaisingListener: boom in running hook of observe_isolation" in run.output
    assert run.output.count("error calling listener") == 2
    # otel_listener (tryfirst) saw every event despite the raising neighbour.
    for task_id in ("show_call_order", "add_neighbours", "observe_isolation"):
        assert run.span(task_id).attributes["airflow.task.outcome"] == "success"
        assert run.metric("airflow.task.outcomes", dag_id=run.dag_id, task_id=task_id, outcome="success") == 1
    assert run.metric("otel_listener.events", event="task_running") == 3
    assert run.metric("otel_listener.events", event="task_success") == 3
    assert run.metric("otel_listener.hook.errors") == 0


def check_method_signatures(run: Run) -> None:
    report = run.ret("compare_signatures")
    hooks = report["hooks"]
    assert set(hooks) == ALL_HOOKS
    for name, row in hooks.items():
        assert row["impl_args"] == row["spec_args"], name
        assert row["tryfirst"] is True, name
        assert row["return_annotation"] == "None", name
    assert hooks["on_task_instance_failed"]["spec_args"] == ["previous_state", "task_instance", "error"]
    assert hooks["on_dag_run_success"]["spec_args"] == ["dag_run", "msg"]
    assert report["missing_spec_modules"] == []
    assert (
        "{'exception'}" in report["misspelled_error"]
        and "can not be found in the hookspec" in (report["misspelled_error"])
    )
    assert report["fewer_args_results"] == ["seen compare_signatures"]
    # ``error`` became the exception event; ``previous_state`` is on every finished try.
    failed = run.span("fail_once", try_number=1)
    assert failed.status_code == ERROR
    assert failed.events[0]["exception.type"] == "LookupError"
    assert failed.events[0]["exception.message"] == "simulated: customer 7 not found (try 1)"
    assert all(s.attributes["airflow.task.previous_state"] == "running" for s in run.task_spans)
    assert run.span("fail_once", try_number=2).attributes["airflow.task.outcome"] == "success"
    assert run.metric("airflow.task.outcomes", dag_id=run.dag_id, task_id="fail_once", outcome="retry") == 1


def check_accessing_task_instance(run: Run) -> None:
    report = run.ret("inspect_task_instance")
    direct, recorded, missing = report["direct"], report["task_event"], report["missing_on_runtime_ti"]
    assert direct["type"] == "RuntimeTaskInstance"
    assert missing["execution_date"] is True and missing["duration"] is True
    for key in recorded:
        assert recorded[key] == direct[key], key  # the adapter copies what the task instance holds
    assert direct["owner"] == "data-platform" and direct["max_tries"] == 2 and direct["state"] == "running"
    span = run.span("inspect_task_instance")
    attrs = span.attributes
    assert attrs["airflow.run_id"] == direct["run_id"] == run.run_id
    assert attrs["airflow.try_number"] == direct["try_number"]
    assert attrs["airflow.max_tries"] == direct["max_tries"]
    assert attrs["airflow.hostname"] == direct["hostname"]
    assert attrs["airflow.queue"] == direct["queue"]
    assert attrs["airflow.pool"] == direct["pool"]
    assert attrs["airflow.operator"] == direct["operator"]
    assert attrs["airflow.task.owner"] == "data-platform"
    assert attrs["airflow.task.state"] == "success"
    assert attrs["cicd.pipeline.task.run.url.full"] == direct["log_url"]
    assert span.start_ns == ns(direct["start_date"])
    assert run.root.attributes["airflow.logical_date"] == direct["logical_date"]
    # duration = end_date - start_date, on the span and in the histogram.
    seconds = (span.end_ns - span.start_ns) / 1e9
    assert seconds >= 0.2
    labels = {"dag_id": run.dag_id, "task_id": "inspect_task_instance"}
    assert abs(run.metric("airflow.task.duration", **labels) - seconds) < 0.001
    mapped = {
        (s.attributes["airflow.map_index"], s.attributes.get("airflow.rendered_map_index"))
        for s in run.task_spans
        if s.attributes["airflow.task_id"] == "process_region"
    }
    assert mapped == {(0, "eu"), (1, "us")}
    assert run.count("airflow.task.duration", dag_id=run.dag_id, task_id="process_region") == 2


EXTERNAL_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
EXTERNAL_SPAN_ID = "b7ad6b7169203331"
CONTEXT_CONF = {"customer": "acme", "traceparent": f"00-{EXTERNAL_TRACE_ID}-{EXTERNAL_SPAN_ID}-01"}


def check_accessing_context(run: Run) -> None:
    view = run.ret("read_context")
    assert view["dag_run"]["conf"] == CONTEXT_CONF
    assert view["dag_run"]["run_id"] == run.run_id
    assert view["params"]["customer"] == "acme"  # conf overrides the param default
    assert view["templates"]["run_id"] == run.run_id
    sees = view["listener_sees"]
    assert sees["traceparent"] == CONTEXT_CONF["traceparent"]
    assert sees["trace_id"] == EXTERNAL_TRACE_ID and sees["parent_span_id"] == EXTERNAL_SPAN_ID
    # conf["traceparent"] put the whole run into the caller's trace, under the caller's span.
    assert {s.trace_id for s in run.spans} == {EXTERNAL_TRACE_ID}
    root = run.root
    assert root.parent_span_id == EXTERNAL_SPAN_ID
    assert root.span_id == sees["dag_run_span_id"]
    assert_one_trace_under_root(run)
    assert root.attributes["airflow.logical_date"] == sees["logical_date"] == view["dag_run"]["logical_date"]
    assert root.attributes["airflow.run_type"] == sees["run_type"] == "manual"
    rendered = run.ret("render_templates")
    assert rendered == {
        "ds": view["templates"]["ds"],
        "run_id": run.run_id,
        "customer": "acme",
        "traceparent": CONTEXT_CONF["traceparent"],
    }
    assert "acme" not in json.dumps([s.attributes for s in run.spans])  # params/conf are not exported


def check_error_handling(run: Run) -> None:
    injected = run.ret("inject_hook_fault")
    assert injected["returned"] == [None, None, None]
    assert injected["hook_errors_before"] == {}
    assert injected["hook_errors_after"] == {"on_task_instance_running": 3}
    assert injected["events_submitted_during_fault"] == 0
    assert injected["max_call_seconds"] < 0.5
    message = "otel_listener: hook on_task_instance_running failed: RuntimeError: injected fault in adapter.task_event"
    assert run.output.count(message) == 1  # logged once per incident, counted every time
    isolated = run.ret("isolate_sink_fault")
    assert isolated == {
        "flush_completed": True,
        "healthy_handled": 5,
        "sink_errors": {"raising": 5, "unbuildable": 1},
        "disabled_sinks": ["unbuildable"],
    }
    assert run.ret("unaffected") == "ran normally"
    # The hook errors are exported; the real sinks had none; tasks were not affected.
    assert run.metric("otel_listener.hook.errors", hook="on_task_instance_running") == 3
    assert run.metric("otel_listener.hook.errors") == 3
    assert run.metric("otel_listener.sink.errors") == 0
    assert run.metric("otel_listener.events", event="task_running") == 3  # the faulty calls submitted nothing
    assert {s.attributes["airflow.task_id"]: s.attributes["airflow.task.outcome"] for s in run.task_spans} == {
        "inject_hook_fault": "success",
        "isolate_sink_fault": "success",
        "unaffected": "success",
    }


def check_async_listeners(run: Run) -> None:
    submit = run.ret("measure_submit")
    assert submit["hooks_are_coroutines"] is False
    assert submit["submit_p99_us"] < 1000  # a hand-off, not work
    assert submit["submit_total_ms_for_all_events"] < submit["blocking_ms_for_20_events"]
    assert submit["blocking_ms_for_20_events"] >= 100  # 20 x 5 ms when done on the task's thread
    overflow = submit["events_submitted"] - submit["queue_size"]
    assert overflow - 10 <= submit["dropped"] <= overflow  # bounded queue: the rest is dropped and counted
    assert submit["flush_completed"] is False  # the deadline ended the flush, not the backlog
    assert submit["flush_deadline"] - 0.05 <= submit["flush_seconds"] <= submit["flush_deadline"] + 0.5
    flush = run.ret("measure_flush")
    assert flush["flush_completed"] is True and flush["flush_seconds"] < flush["flush_timeout"]
    assert {"otel-listener-traces", "otel-listener-metrics"} <= set(flush["sink_threads"])
    assert flush["dropped"] == {}
    # The real runtime's flushes are measured and exported; none timed out, nothing was dropped.
    assert run.count("otel_listener.flush.duration", outcome="ok") >= 2
    assert run.count("otel_listener.flush.duration", outcome="timeout") == 0
    assert run.metric("otel_listener.events.dropped") == 0
    for task_id in ("measure_submit", "measure_flush"):
        assert run.span(task_id).attributes["airflow.task.outcome"] == "success"


def config_env(home: AirflowHome, tmp_path: Path) -> dict[str, str]:
    """Settings from all three places: environment, airflow.cfg, and an invalid value."""
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text((home.path / "airflow.cfg").read_text() + "\n[otel_listener]\nmax_stacktrace_chars = 600\n")
    return {
        "AIRFLOW_CONFIG": str(cfg),
        "AIRFLOW__OTEL_LISTENER__METRICS_ENABLED": "false",
        "AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT": "soon",
        "AIRFLOW__OTEL_LISTENER__EXCLUDE_DAGS": "scratch_*,*_sandbox",
        "OTEL_SERVICE_NAME": "airflow-examples",
    }


def check_listener_configuration(run: Run) -> None:
    shown = run.ret("show_settings")
    values, sources = shown["values"], shown["sources"]
    assert shown["listener_enabled_in_this_process"] is True
    assert values["metrics_enabled"] is False
    assert sources["metrics_enabled"] == "AIRFLOW__OTEL_LISTENER__METRICS_ENABLED"
    assert values["max_stacktrace_chars"] == 600
    assert sources["max_stacktrace_chars"] == "airflow.cfg [otel_listener] max_stacktrace_chars"
    assert values["flush_timeout"] == 0.5
    assert sources["flush_timeout"] == "fallback (invalid AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT)"
    assert sources["queue_size"] == "default"
    assert len(shown["problems"]) == 1 and "FLUSH_TIMEOUT='soon' is invalid" in shown["problems"][0]
    assert shown["dag_selected"] == {
        "52_03_06_listener_configuration": True,
        "scratch_experiment": False,
        "team_sandbox": False,
        "billing_daily": True,
    }
    assert shown["otel_env"]["OTEL_SERVICE_NAME"] == "airflow-examples"
    assert shown["plugin_registers_listener"] is True
    assert "otel_listener: AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT='soon' is invalid" in run.output
    candidate = run.ret("validate_candidate")
    assert candidate["queue_size"] == 10_000 and candidate["traces_enabled"] is False
    assert candidate["flush_timeout"] == 2.0 and candidate["include_dags"] == ["billing_*", "52_*"]
    assert len(candidate["problems"]) == 2
    # The configuration shaped the telemetry: no metrics at all, spans renamed and trimmed.
    assert run.receiver.points == []
    assert run.spans and all(s.resource["service.name"] == "airflow-examples" for s in run.spans)
    stack = run.span("fail_once", try_number=1).events[0]["exception.stacktrace"]
    assert 0 < len(stack) <= 600 and "simulated failure" in stack


_LINEAGE_FILE: dict[str, Path] = {}


def lineage_env(home: AirflowHome, tmp_path: Path) -> dict[str, str]:
    """The standard OpenLineage file transport, appending one event per line."""
    _LINEAGE_FILE["path"] = tmp_path / "lineage.jsonl"
    return {
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(_LINEAGE_FILE["path"]),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
        "AIRFLOW__OTEL_LISTENER__STATE_DIR": str(tmp_path / "state"),
    }


def check_data_lineage_events(run: Run) -> None:
    from lineage_support import assert_valid

    path = _LINEAGE_FILE["path"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 10):
        time.sleep(0.2)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        assert_valid(event)
    jobs = [(e["job"]["name"].split(".")[-1], e["eventType"]) for e in events]
    for name in ("extract", "transform", "publish", "lineage_preview"):
        assert (name, "START") in jobs and (name, "COMPLETE") in jobs, jobs
    dag = [e for e in events if e["job"]["name"] == run.dag_id]
    assert [e["eventType"] for e in dag] == ["START", "COMPLETE"]
    preview = run.ret("lineage_preview")
    assert dag[0]["run"]["runId"] == preview["dag_run_id"]
    assert {e["run"]["facets"]["otelListener"]["traceId"] for e in events} == {preview["trace_id"], run.root.trace_id}
    by_task = {e["job"]["name"].split(".")[-1]: e for e in events if e["eventType"] == "COMPLETE"}
    assert by_task["publish"]["run"]["runId"] == preview["publish_run_id"]
    assert by_task["publish"]["run"]["facets"]["otelListener"]["spanId"] == run.span("publish").span_id
    datasets = {k: tuple(v) for k, v in preview["datasets"].items()}
    assert datasets["raw_orders"] == ("s3://acme-raw", "orders/2026.csv")
    assert datasets["orders_daily"] == ("postgres://warehouse:5432", "analytics.public.orders_daily")

    def names(e: dict, side: str) -> set:
        return {(d["namespace"], d["name"]) for d in e.get(side, [])}

    # A connected graph: each task's output is the next task's input.
    assert names(by_task["extract"], "inputs") == {datasets["raw_orders"]}
    assert names(by_task["extract"], "outputs") == names(by_task["transform"], "inputs") == {datasets["staged_orders"]}
    assert names(by_task["transform"], "outputs") == names(by_task["publish"], "inputs") == {datasets["orders_daily"]}
    assert names(by_task["publish"], "outputs") == {datasets["orders_daily_csv"]}
    assert by_task["publish"]["job"]["facets"]["ownership"]["owners"][0]["name"] == "data-platform"
    assert by_task["publish"]["run"]["facets"]["otelListener"]["airflow"]["operator"]


# -- alerting examples (52.2.2, 52.2.4, 52.6.1, 52.6.2, 52.10.1): dry-run previews, formats checked ---


def check_external_notifications(run: Run) -> None:
    out = run.ret("notify_preview")
    assert out["sent"] == {
        "retry (try 1 of 2)": [],
        "success (try 2)": [],
        "final failure": ["email", "slack"],
        "critical final failure": ["email", "pagerduty", "slack"],
        "recovery": ["pagerduty", "slack"],
    }
    assert out["email_subject"] == "[Airflow] orders.load failed"
    assert "bad &lt;row&gt; &amp; co" in out["email_html"] and "<row>" not in out["email_html"]
    assert "otel_listener alert (dry run)" in run.output
    assert run.span("notify_preview").attributes["airflow.task.outcome"] == "success"


def check_custom_alerting(run: Run) -> None:
    assert run.ret("repeated_failures")["fired"] == [0, 0, 1, 0, 0]
    sla = run.ret("sla_breaches")
    assert sla["fired"] == [0, 0, 0, 0, 1, 1]
    assert "median" in sla["details"][0] and "limit 5.0min" in sla["details"][1]
    assert run.ret("task_patterns_aggregated") == {"before_window_end": 0, "messages": 1, "alerts": 4}


def check_slack_integration(run: Run) -> None:
    from alert_servers import validate_slack

    out = run.ret("slack_preview")
    assert out["routed"] == {"slack-billing": 1, "slack-data": 3}
    assert out["suppressed"] == {"alert_rate_limited:slack-data": 2}
    message = out["message"]
    assert validate_slack(message) == []
    assert "&lt;!channel&gt;" in json.dumps(message) and "<!channel>" not in json.dumps(message)
    assert "/trace/" in json.dumps(message) and message["blocks"][0]["text"]["text"].startswith("ERROR: billing_daily")


def check_pagerduty_integration(run: Run) -> None:
    from alert_servers import validate_pagerduty

    out = run.ret("pagerduty_preview")
    assert out["events"] == [
        {"event_action": "trigger", "dedup_key": "airflow/billing/charge", "severity": "critical"},
        {"event_action": "resolve", "dedup_key": "airflow/billing/charge", "severity": None},
        {"event_action": "trigger", "dedup_key": "airflow/reports/render", "severity": "warning"},
    ]
    assert out["suppressed"] == {"alert_incident_open": 2}
    assert validate_pagerduty({"routing_key": "k" * 32, **out["first_trigger"]}) == []
    assert out["first_trigger"]["payload"]["source"] == "airflow-prod"


def check_sla_monitoring(run: Run) -> None:
    assert run.ret("sla_report") == {
        "runs": 10,
        "within_sla": 8,
        "compliance_pct": 80.0,
        "median_seconds": 61.5,
        "early_warning_hours": [5, 7, 9],
        "breach_hours": [7, 9],
        "digest_alerts": 2,
    }


@dataclass(frozen=True)
class Example:
    check: Callable[[Run], None]
    conf: dict | None = None
    env: Callable[[AirflowHome, Path], dict[str, str]] | None = field(default=None)


EXAMPLES = {
    "52_01_01_creating_listener_plugin": Example(check_creating_listener_plugin),
    "52_01_02_on_task_instance_running": Example(check_on_task_instance_running),
    "52_01_03_on_task_instance_success": Example(check_on_task_instance_success),
    "52_01_04_on_task_instance_failed": Example(check_on_task_instance_failed),
    "52_01_05_dag_level_listeners": Example(check_dag_level_listeners),
    "52_01_06_multiple_listeners": Example(check_multiple_listeners),
    "52_02_02_external_notifications": Example(check_external_notifications),
    "52_02_04_custom_alerting": Example(check_custom_alerting),
    "52_02_06_data_lineage_events": Example(check_data_lineage_events, env=lineage_env),
    "52_06_01_slack_integration": Example(check_slack_integration),
    "52_06_02_pagerduty_integration": Example(check_pagerduty_integration),
    "52_10_01_sla_monitoring": Example(check_sla_monitoring),
    "52_03_01_method_signatures": Example(check_method_signatures),
    "52_03_02_accessing_task_instance": Example(check_accessing_task_instance),
    "52_03_03_accessing_context": Example(check_accessing_context, conf=CONTEXT_CONF),
    "52_03_04_error_handling_listeners": Example(check_error_handling),
    "52_03_05_async_listeners": Example(check_async_listeners),
    "52_03_06_listener_configuration": Example(check_listener_configuration, env=config_env),
}


# -- tests ---------------------------------------------------------------------------------------


def test_the_examples_folder_holds_exactly_the_curriculum_files():
    assert sorted(p.stem for p in EXAMPLES_DIR.glob("*.py")) == sorted(CURRICULUM_TAGS) == sorted(EXAMPLES)


@pytest.mark.parametrize("dag_id", sorted(CURRICULUM_TAGS))
def test_example_declares_its_dag_as_the_curriculum_says(dag_id: str):
    """dag_id = file name, schedule=None, the curriculum's tags, and a docstring naming the package."""
    tree = ast.parse((EXAMPLES_DIR / f"{dag_id}.py").read_text())
    docstring = ast.get_docstring(tree) or ""
    assert "otel_listener" in docstring and len(docstring) > 500
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DAG"
    ]
    assert len(calls) == 1
    kwargs = {kw.arg: kw.value for kw in calls[0].keywords}
    assert ast.literal_eval(kwargs["dag_id"]) == dag_id
    assert ast.literal_eval(kwargs["schedule"]) is None
    assert ast.literal_eval(kwargs["tags"]) == CURRICULUM_TAGS[dag_id]


@pytest.mark.parametrize("dag_id", sorted(EXAMPLES))
def test_example_runs_and_shows_its_topic_in_the_telemetry(
    dag_id: str, examples_home: AirflowHome, import_errors: list[dict], receiver: Receiver, tmp_path: Path
):
    example = EXAMPLES[dag_id]
    env = example.env(examples_home, tmp_path) if example.env else None
    run = run_example(examples_home, receiver, dag_id, conf=example.conf, env=env)
    assert run.state == "success", run.output[-6000:]  # every example is tagged 'success'
    assert import_errors == []
    assert run.spans, f"no spans exported for {dag_id}:\n{run.output[-4000:]}"
    assert_one_trace_under_root(run)
    example.check(run)

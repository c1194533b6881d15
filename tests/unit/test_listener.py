"""The hooks as Airflow calls them: never raise, hand events over, flush at task end."""

import inspect
import time

from fakes import OrmDagRun, RecordingSink, RuntimeTaskInstance

from otel_listener import adapter, runtime
from otel_listener.config import Settings
from otel_listener.dispatcher import Dispatcher
from otel_listener.health import Health
from otel_listener.listener import OtelListener, listener


def install(settings=None):
    sink, health = RecordingSink(), Health()
    runtime.install(runtime.Runtime(settings or Settings(), health, Dispatcher([("recording", lambda: sink)], health)))
    return sink, health


class TaskRunnerMarker:
    pass


def test_every_hookspec_is_implemented_with_matching_arguments():
    from airflow._shared.listeners.spec import lifecycle, taskinstance
    from airflow.listeners.spec import asset, dagrun, importerrors

    for module in (lifecycle, taskinstance, dagrun, asset, importerrors):
        for name, spec in inspect.getmembers(module, inspect.isfunction):
            if not hasattr(spec, "airflow_spec"):
                continue
            impl = getattr(OtelListener, name)
            assert list(inspect.signature(impl).parameters)[1:] == list(inspect.signature(spec).parameters), name
            assert impl.airflow_impl["tryfirst"] is True, name


def test_task_process_flow_hands_over_events_and_flushes_at_the_end():
    sink, _ = install()
    listener.on_starting(component=TaskRunnerMarker())
    ti = RuntimeTaskInstance()
    listener.on_task_instance_running(previous_state="queued", task_instance=ti)
    listener.on_task_instance_success(previous_state="running", task_instance=ti)
    assert sink.flushes == 1  # the last task hook flushed, the task did not exit with data buffered
    listener.before_stopping(component=TaskRunnerMarker())
    assert sink.flushes == 2
    kinds = [e.kind.value for e in sink.events]
    assert kinds == ["component_starting", "task_running", "task_success", "component_stopping"]
    assert sink.events[1].process_role == "task"


def test_hooks_never_raise_on_garbage_and_count_the_failure(monkeypatch):
    _, health = install()

    def explode(*args, **kwargs):
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(adapter, "task_event", explode)
    monkeypatch.setattr(adapter, "dag_run_end_event", explode)
    listener.on_task_instance_success(previous_state=None, task_instance=object())
    listener.on_task_instance_failed(previous_state=None, task_instance=None, error=object())
    listener.on_dag_run_failed(dag_run=OrmDagRun(), msg=None)
    assert health.snapshot()["hook_errors"] == {
        "on_task_instance_success": 1,
        "on_task_instance_failed": 1,
        "on_dag_run_failed": 1,
    }


def test_all_hooks_accept_odd_arguments_without_raising():
    sink, _ = install()
    odd = [None, object(), "", 42, RuntimeTaskInstance(dag_id="\ud800" * 3)]
    for value in odd:
        listener.on_task_instance_running(previous_state=value, task_instance=value)
        listener.on_task_instance_failed(previous_state=value, task_instance=value, error=value)
        listener.on_task_instance_skipped(previous_state=value, task_instance=value)
        listener.on_dag_run_running(dag_run=value, msg=value)
        listener.on_asset_created(asset=value)
        listener.on_asset_alias_created(asset_alias=value)
        listener.on_asset_changed(asset=value)
        listener.on_asset_event_emitted(asset_event=value)
        listener.on_new_dag_import_error(filename=value, stacktrace=value)
        listener.on_existing_dag_import_error(filename=value, stacktrace=value)
        listener.on_starting(component=value)
        listener.before_stopping(component=value)
    assert len(sink.events) > 0


def test_disabled_listener_is_a_no_op(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OTEL_LISTENER__ENABLED", "false")
    runtime.install(None)
    listener.on_task_instance_running(previous_state=None, task_instance=RuntimeTaskInstance())
    assert runtime.get() is None


def test_dag_filter_applies_to_task_hooks():
    sink, _ = install(Settings(exclude_dags=("secret_*",)))
    listener.on_task_instance_running(previous_state=None, task_instance=RuntimeTaskInstance(dag_id="secret_payroll"))
    listener.on_task_instance_running(previous_state=None, task_instance=RuntimeTaskInstance(dag_id="etl"))
    time.sleep(0.05)
    runtime.get().dispatcher.flush(1)
    assert [e.run.dag_id for e in sink.events] == ["etl"]


def test_plugin_registers_the_listener():
    from otel_listener.plugin import OtelListenerPlugin, compatible_listeners

    assert OtelListenerPlugin.name == "otel_listener"
    assert compatible_listeners() == [listener]


def test_plugin_refuses_unsupported_airflow(monkeypatch, caplog):
    from otel_listener import plugin

    monkeypatch.setattr(plugin, "airflow_version", lambda: (2, 10))
    assert plugin.compatible_listeners() == []
    assert "not supported" in caplog.text

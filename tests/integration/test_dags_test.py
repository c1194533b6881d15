"""``airflow dags test``: everything in one process, the listener loaded from its entry point."""

from __future__ import annotations

from pathlib import Path

from integration.shape import assert_otel_shape_trace, expected_outcome_counts

RAISING_PLUGIN = """
from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


class Raising:
    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        raise RuntimeError("raising listener: running")

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        raise RuntimeError("raising listener: success")

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        raise RuntimeError("raising listener: failed")

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance):
        raise RuntimeError("raising listener: skipped")

    @hookimpl
    def on_dag_run_success(self, dag_run, msg):
        raise RuntimeError("raising listener: dag run")

    @hookimpl
    def on_dag_run_failed(self, dag_run, msg):
        raise RuntimeError("raising listener: dag run")


class RaisingPlugin(AirflowPlugin):
    name = "raising_listener"
    listeners = [Raising()]
"""


def run_id_of(receiver) -> str:
    (root,) = [s for s in receiver.spans if s.name == "dag_run otel_shape"]
    return root.attributes["airflow.run_id"]


def test_dags_test_exports_the_whole_trace_and_exact_metrics(make_home, receiver):
    home = make_home(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    result = home.airflow("dags", "test", "otel_shape")
    assert "DagRun failed" in result.stdout + result.stderr
    assert receiver.wait_for(lambda r: any(s.name == "dag_run otel_shape" for s in r.spans), 30)
    assert_otel_shape_trace(receiver.spans, run_id_of(receiver), task_role="dags-test", run_role="dags-test")
    assert receiver.wait_for(lambda r: r.metric_sum("airflow.dag_run.outcomes") >= 1, 30)
    for (task_id, outcome), n in expected_outcome_counts().items():
        assert receiver.metric_sum("airflow.task.outcomes", task_id=task_id, outcome=outcome) == n, (task_id, outcome)
    assert receiver.metric_sum("airflow.dag_run.outcomes", dag_id="otel_shape", outcome="failed") == 1
    assert receiver.histogram_count("airflow.task.duration", task_id="square") == 3
    assert receiver.metric_sum("otel_listener.sink.errors") == 0
    assert receiver.metric_sum("otel_listener.hook.errors") == 0
    assert all(p.temporality == 1 for p in receiver.points if p.kind in ("sum", "histogram"))  # 1 = DELTA


def test_a_raising_listener_beside_ours_does_not_stop_ours(make_home, receiver, tmp_path):
    plugins = Path(tmp_path) / "plugins"
    plugins.mkdir()
    (plugins / "raising_listener.py").write_text(RAISING_PLUGIN)
    home = make_home(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins))
    listed = home.airflow("plugins")
    assert "raising_listener" in listed.stdout and "otel_listener" in listed.stdout
    result = home.airflow("dags", "test", "otel_shape")
    output = result.stdout + result.stderr
    assert "raising listener" in output  # the other listener really ran and raised
    assert receiver.wait_for(lambda r: any(s.name == "dag_run otel_shape" for s in r.spans), 30)
    assert_otel_shape_trace(receiver.spans, run_id_of(receiver), task_role="dags-test", run_role="dags-test")


def test_plugins_folder_shim_loads_the_listener_too(make_home, receiver, tmp_path):
    plugins = Path(tmp_path) / "plugins"
    plugins.mkdir()
    (plugins / "otel_listener_plugin.py").write_text(
        "from otel_listener.plugin import OtelListenerPlugin  # noqa: F401\n"
    )
    home = make_home(AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins))
    listed = home.airflow("plugins")
    assert "otel_listener_plugin.py" in listed.stdout or "$PLUGINS_FOLDER" in listed.stdout
    assert "otel_listener.listener.OtelListener" in listed.stdout

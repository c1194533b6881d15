"""52.1.1 Creating a listener plugin: how ``otel_listener`` gets into Airflow, checked from a task.

A listener is an object whose methods carry ``@hookimpl`` (``from airflow.listeners import
hookimpl``) and match Airflow's hookspecs; an ``AirflowPlugin`` subclass hands it to Airflow in
its ``listeners = [...]`` attribute. ``otel_listener`` is built exactly like that:

* ``otel_listener/listener.py`` -- ``class OtelListener`` implements every hookspec (task
  instance, DAG run, lifecycle, asset and import-error hooks), each ``@hookimpl(tryfirst=True)``;
  ``listener = OtelListener()`` is the one instance.
* ``otel_listener/plugin.py`` -- ``class OtelListenerPlugin(AirflowPlugin)`` with
  ``name = "otel_listener"`` and ``listeners = compatible_listeners()`` (the instance above, or
  nothing outside Airflow 3.x, with one log line instead of a broken start-up).
* Registration: the package's ``pyproject.toml`` declares the entry point
  ``[project.entry-points."airflow.plugins"] otel_listener = "otel_listener.plugin:OtelListenerPlugin"``,
  so ``pip install`` is all it takes; every Airflow process (scheduler, dag-processor,
  api-server, and each task process) loads it at start. Without installing the package you can
  drop a one-line shim into ``$AIRFLOW_HOME/plugins/otel_listener_plugin.py``::

      from otel_listener.plugin import OtelListenerPlugin  # noqa: F401

  ``airflow plugins`` then lists ``otel_listener`` with ``otel_listener.listener.OtelListener``.

What this DAG shows, inside the task process (where task hooks run):

* ``inspect_registration`` finds the ``airflow.plugins`` entry point, the plugin class and its
  listener, and the same object registered in the task SDK's listener manager
  (``airflow.sdk.listener.get_listener_manager()``), with the hooks it implements.
* ``listener_is_live`` shows that the listener has already acted in this process: the
  per-process runtime (``otel_listener.runtime.get()``) exists, and its health counters
  (``health.snapshot()``) include the ``task_running`` event of this very task.

Telemetry you will see (``docs/telemetry-contract.md``): a trace with a ``dag_run
52_01_01_creating_listener_plugin`` span and one ``task <task_id>`` span per task try under it
(``airflow.process.role`` = ``task``, or ``dags-test`` under ``airflow dags test``), resource
``service.name=airflow``; metrics ``airflow.task.outcomes``, ``airflow.task.duration``,
``airflow.dag_run.outcomes`` and the listener's own ``otel_listener.events{event=task_running}``.

Run it: ``airflow dags test 52_01_01_creating_listener_plugin`` with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a Collector (the repo's ``docker-compose.yml``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

with DAG(
    dag_id="52_01_01_creating_listener_plugin",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "beginner", "success"],
    doc_md=__doc__,
):

    @task
    def inspect_registration():
        """Entry point -> plugin class -> listener object -> registered in this process's manager."""
        from importlib.metadata import entry_points

        from airflow.sdk.listener import get_listener_manager

        from otel_listener.listener import OtelListener, listener
        from otel_listener.plugin import OtelListenerPlugin

        entry_point = next((ep for ep in entry_points(group="airflow.plugins") if ep.name == "otel_listener"), None)
        pm = get_listener_manager().pm
        registered = [p for p in pm.get_plugins() if isinstance(p, OtelListener)]
        ours = {
            name: caller
            for name, caller in vars(pm.hook).items()
            if not name.startswith("_") and any(impl.plugin is listener for impl in caller.get_hookimpls())
        }
        result = {
            "entry_point": entry_point.value if entry_point else None,
            "plugin_name": OtelListenerPlugin.name,
            "plugin_listeners": [f"{type(x).__module__}.{type(x).__qualname__}" for x in OtelListenerPlugin.listeners],
            "registered_in_task_manager": len(registered) == 1 and registered[0] is listener,
            # The task SDK's manager only has specs for task-instance and lifecycle hooks; the
            # DAG-run/asset/import-error hooks are called by the core manager in the scheduler etc.
            "hooks_with_spec_in_task_manager": sorted(n for n, c in ours.items() if c.spec is not None),
            "other_hooks_implemented": sorted(n for n, c in ours.items() if c.spec is None),
            "all_listener_classes": sorted({type(p).__qualname__ for p in pm.get_plugins()}),
        }
        log.info("otel_listener registration: %s", result)
        return result

    @task
    def listener_is_live():
        """The runtime exists and has counted this task's running event before ``execute``."""
        from otel_listener import runtime

        ti = get_current_context()["ti"]
        rt = runtime.get()
        if rt is None:
            log.warning("otel_listener is disabled by configuration: no telemetry from this process")
            return {"enabled": False}
        snapshot = rt.health.snapshot()
        result = {
            "enabled": True,
            "process_role": runtime.role(),
            "task_running_events_in_this_process": snapshot["events"].get("task_running", 0),
            "sinks": [w.name for w in rt.dispatcher.workers],
            "hook_errors": snapshot["hook_errors"],
            "task": f"{ti.dag_id}.{ti.task_id} try {ti.try_number}",
        }
        log.info("otel_listener runtime in this task process: %s", result)
        return result

    inspect_registration() >> listener_is_live()

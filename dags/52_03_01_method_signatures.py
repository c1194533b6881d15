"""52.3.1 Listener method signatures: Airflow's hookspecs against ``OtelListener``'s hookimpls.

Airflow 3 defines each hook as a pluggy *hookspec*; a listener method is a *hookimpl* with the
same name whose parameters are a subset of the spec's, matched **by name** (pluggy calls
``impl(**{name: kwargs[name] for name in impl_args})``). The Airflow 3 task-instance hooks are:

* ``on_task_instance_running(previous_state, task_instance)``
* ``on_task_instance_success(previous_state, task_instance)``
* ``on_task_instance_failed(previous_state, task_instance, error)`` -- the argument is ``error``
  (an exception in the task process, a string when a state is set by hand), not ``exception``
* ``on_task_instance_skipped(previous_state, task_instance)``

plus ``on_dag_run_running/_success/_failed(dag_run, msg)``, ``on_starting(component)``,
``before_stopping(component)``, ``on_asset_created(asset)``, ``on_asset_alias_created(asset_alias)``,
``on_asset_changed(asset)``, ``on_asset_event_emitted(asset_event)``,
``on_new_dag_import_error(filename, stacktrace)`` and ``on_existing_dag_import_error(filename, stacktrace)``.
There is no ``context`` parameter in Airflow 3: DAG and task information comes from
``task_instance`` (``dag_id``, ``task_id``, ``run_id``, ``try_number``, ``task.task_type``, ...) or
``task_instance.get_template_context()``. Return values are collected by pluggy and ignored by
Airflow; listeners return ``None``.

Which ``otel_listener`` code: ``otel_listener/listener.py`` implements every spec with exactly
the spec's argument names, each ``@hookimpl(tryfirst=True)``, and each returns ``None``.

What the tasks do (in the task process, with Airflow's own spec modules and pluggy):

* ``compare_signatures`` loads Airflow's hookspec modules into a private pluggy manager (the
  way Airflow builds its own), registers a fresh ``OtelListener`` -- pluggy validates every
  hookimpl against its spec at this point -- and reports spec vs. impl arguments per hook. It
  also shows that pluggy rejects a method using ``exception`` instead of ``error``, accepts one
  that takes fewer arguments, and that a returned value is collected but goes nowhere.
* ``fail_once`` (``retries=1``) raises on its first try so the ``error`` argument and
  ``previous_state`` are visible in the telemetry: the first try's span has an ``exception``
  event built from ``error``, and every finished span has ``airflow.task.previous_state``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

SPEC_MODULES = (
    "airflow.sdk._shared.listeners.spec.lifecycle",  # what task processes load
    "airflow.sdk._shared.listeners.spec.taskinstance",
    "airflow.listeners.spec.dagrun",  # what the scheduler/api-server/dag-processor load
    "airflow.listeners.spec.asset",
    "airflow.listeners.spec.importerrors",
)


with DAG(
    dag_id="52_03_01_method_signatures",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def compare_signatures():
        import importlib
        import inspect

        import pluggy
        from airflow.sdk._shared.listeners import hookimpl

        from otel_listener.listener import OtelListener

        pm = pluggy.PluginManager("airflow")
        missing_modules = []
        for name in SPEC_MODULES:
            try:
                pm.add_hookspecs(importlib.import_module(name))
            except ImportError:  # e.g. a task-sdk-only worker has no core spec modules
                missing_modules.append(name)
        pm.register(OtelListener())  # raises PluginValidationError on any signature mismatch

        table = {}
        for name, caller in sorted(vars(pm.hook).items()):
            if name.startswith("_") or caller.spec is None:
                continue
            impls = caller.get_hookimpls()
            impl = impls[0] if impls else None
            table[name] = {
                "spec_args": list(caller.spec.argnames),
                "impl_args": list(impl.argnames) if impl else None,
                "tryfirst": bool(impl and impl.tryfirst),
                "return_annotation": str(inspect.signature(impl.function).return_annotation) if impl else None,
            }
            log.info("%-32s spec%s impl%s", name, tuple(caller.spec.argnames), tuple(impl.argnames) if impl else None)

        class Misspelled:
            @hookimpl
            def on_task_instance_failed(self, previous_state, task_instance, exception):
                pass

        try:
            pm.register(Misspelled())
            misspelled = "accepted"
        except pluggy.PluginValidationError as exc:
            misspelled = str(exc)
        log.info("a hookimpl with 'exception' instead of 'error': %s", misspelled)

        class FewerArgs:
            @hookimpl
            def on_task_instance_success(self, task_instance):
                return f"seen {task_instance.task_id}"

        returns_pm = pluggy.PluginManager("airflow")
        returns_pm.add_hookspecs(importlib.import_module("airflow.sdk._shared.listeners.spec.taskinstance"))
        returns_pm.register(FewerArgs())
        ti = get_current_context()["ti"]
        collected = returns_pm.hook.on_task_instance_success(previous_state="running", task_instance=ti)

        return {
            "hooks": table,
            "missing_spec_modules": missing_modules,
            "misspelled_error": misspelled,
            "fewer_args_results": collected,
        }

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def fail_once():
        ti = get_current_context()["ti"]
        if ti.try_number == 1:
            raise LookupError("simulated: customer 7 not found (try 1)")
        return {"try_number": ti.try_number}

    compare_signatures() >> fail_once()

"""52.1.6 Multiple listeners: call order, isolation, and why ``otel_listener`` is ``tryfirst``.

Any number of plugins may register listeners; Airflow keeps them in one pluggy
``PluginManager`` per process (the task SDK's ``airflow.sdk.listener.get_listener_manager()`` in
task processes, ``airflow.listeners.listener.get_listener_manager()`` in the scheduler and
api-server) and calls every implementation of a hook in turn:

* **Order**: ``tryfirst=True`` implementations first, then plain ones -- the most recently
  registered plain one first -- then ``trylast`` ones.
* **Isolation is not automatic**: pluggy stops at the first implementation that raises. Airflow
  catches that exception and logs ``error calling listener``, and the task is unaffected, but the
  listeners *after* the raising one are never called for that event.

How ``otel_listener`` copes (``otel_listener/listener.py``): every hook is
``@hookimpl(tryfirst=True)``, so a plain listener that raises cannot keep it from seeing an
event, and every hook body catches everything itself (failures are counted in
``otel_listener.hook.errors``), so it never silences the listeners after it. (A *tryfirst*
listener registered later than ours would still run before it; keep third-party listeners
plain or well-behaved.)

What the DAG does, in the task processes, with the real listener manager:

* ``show_call_order`` lists the listeners registered for each task hook in call order.
* ``add_neighbours`` registers three extra listeners next to ``otel_listener``, in this order:
  ``SilencedListener`` (records calls), ``RaisingListener`` (raises on every task hook) and
  ``AuditListener`` (records calls). Call order is now OtelListener, AuditListener,
  RaisingListener, SilencedListener. When ``add_neighbours`` succeeds, its success hook reaches
  OtelListener and AuditListener, then RaisingListener raises and SilencedListener is skipped.
* ``observe_isolation`` runs after it. Under ``airflow dags test`` (one process for all tasks) it
  sees what the neighbours recorded: AuditListener saw ``add_neighbours``' success and its own
  running event, SilencedListener saw nothing, and ``otel_listener`` counted every event with no
  hook errors of its own. It then unregisters the neighbours. On a real worker each task has
  its own process, so the neighbours only ever affected ``add_neighbours``' own hooks.

Telemetry: every ``task <task_id>`` span and ``airflow.task.outcomes{outcome=success}`` point is
there despite the raising neighbour; ``otel_listener.hook.errors`` stays 0; the task log shows
Airflow's ``error calling listener`` with the neighbour's ``RuntimeError``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, task

log = logging.getLogger(__name__)

TASK_HOOKS = (
    "on_task_instance_running",
    "on_task_instance_success",
    "on_task_instance_failed",
    "on_task_instance_skipped",
)


def _hookimpl():
    try:
        from airflow.listeners import hookimpl
    except ImportError:  # task-sdk-only workers
        from airflow.sdk._shared.listeners import hookimpl
    return hookimpl


hookimpl = _hookimpl()


class _Recording:
    """Remembers every task event it is called for (class-level, so other tasks in this process see it)."""

    calls: list[str]

    def _record(self, hook: str, task_instance) -> None:
        self.calls.append(f"{hook}:{task_instance.task_id}")

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        self._record("on_task_instance_running", task_instance)

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        self._record("on_task_instance_success", task_instance)

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        self._record("on_task_instance_failed", task_instance)


class AuditListener(_Recording):
    calls: list[str] = []


class SilencedListener(_Recording):
    calls: list[str] = []


class RaisingListener:
    """A badly written neighbour: raises on every task hook."""

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        raise RuntimeError(f"RaisingListener: boom in running hook of {task_instance.task_id}")

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        raise RuntimeError(f"RaisingListener: boom in success hook of {task_instance.task_id}")

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        raise RuntimeError(f"RaisingListener: boom in failed hook of {task_instance.task_id}")


NEIGHBOURS = (SilencedListener, RaisingListener, AuditListener)  # registration order


def _manager():
    from airflow.sdk.listener import get_listener_manager

    return get_listener_manager()


def _call_order() -> dict[str, list[str]]:
    """Listener classes per task hook, in the order pluggy calls them (it runs its list backwards)."""
    pm = _manager().pm
    order = {}
    for name in TASK_HOOKS:
        impls = list(reversed(getattr(pm.hook, name).get_hookimpls()))
        order[name] = [type(i.plugin).__qualname__ + (" (tryfirst)" if i.tryfirst else "") for i in impls]
    return order


with DAG(
    dag_id="52_01_06_multiple_listeners",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def show_call_order():
        order = _call_order()
        log.info("listeners in call order before adding neighbours: %s", order)
        return order

    @task
    def add_neighbours():
        manager = _manager()
        for cls in NEIGHBOURS:
            cls_instances = [p for p in manager.pm.get_plugins() if isinstance(p, cls)]
            if not cls_instances:
                manager.add_listener(cls())
        order = _call_order()
        log.info("listeners in call order after adding neighbours: %s", order)
        return order

    @task
    def observe_isolation():
        from otel_listener import runtime

        manager = _manager()
        neighbours = [p for p in manager.pm.get_plugins() if isinstance(p, NEIGHBOURS)]
        rt = runtime.get()
        snapshot = rt.health.snapshot() if rt is not None else {}
        report = {
            "neighbours_in_this_process": sorted(type(p).__qualname__ for p in neighbours),
            "audit_calls": list(AuditListener.calls),
            "silenced_calls": list(SilencedListener.calls),
            "otel_listener_events": snapshot.get("events", {}),
            "otel_listener_hook_errors": snapshot.get("hook_errors", {}),
        }
        if not neighbours:
            log.info("no neighbours here: add_neighbours ran in another task process (a real worker)")
        for plugin in neighbours:  # leave the process as we found it
            manager.pm.unregister(plugin)
        log.info("what each listener saw: %s", report)
        return report

    show_call_order() >> add_neighbours() >> observe_isolation()

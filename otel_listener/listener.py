"""The hook implementations: thin adapters from Airflow calls to events.

Every hook body is wrapped so that it can never raise (pluggy stops calling the remaining
listeners at the first exception) and never waits on the network. Hooks are ``tryfirst``: a
listener of someone else's that raises cannot keep ours from seeing the event. The only wait is the
bounded flush at the end of a task process, so that nothing buffered dies with the process.
"""

from __future__ import annotations

from typing import Any

from otel_listener import adapter, inflight, runtime
from otel_listener.events import EventKind

try:
    from airflow.listeners import hookimpl
except ImportError:  # task-sdk-only workers
    from airflow.sdk._shared.listeners import hookimpl  # type: ignore[no-redef]


def _task_role(task_instance: Any) -> str:
    """Task hooks with an SDK task instance run in a task process (or ``airflow dags test``)."""
    if type(task_instance).__name__ == "RuntimeTaskInstance":
        return "dags-test" if adapter.role_from_argv() == "dags-test" else "task"
    return runtime.role()


class OtelListener:
    """Registered with Airflow's listener manager by :class:`otel_listener.plugin.OtelListenerPlugin`."""

    # -- task instances ------------------------------------------------------------------
    @hookimpl(tryfirst=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._task("on_task_instance_running", EventKind.TASK_RUNNING, task_instance, previous_state)

    @hookimpl(tryfirst=True)
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._task("on_task_instance_success", EventKind.TASK_SUCCESS, task_instance, previous_state)

    @hookimpl(tryfirst=True)
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        self._task("on_task_instance_failed", EventKind.TASK_FAILED, task_instance, previous_state, error)

    @hookimpl(tryfirst=True)
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._task("on_task_instance_skipped", EventKind.TASK_SKIPPED, task_instance, previous_state)

    def _task(self, hook: str, kind: EventKind, ti: Any, previous_state: Any, error: Any = None) -> None:
        rt = None
        try:
            rt = runtime.get()
            if rt is None:
                return
            role = _task_role(ti)
            event = adapter.task_event(
                kind,
                ti,
                previous_state=previous_state,
                error=error,
                role=role,
                max_stacktrace=rt.settings.max_stacktrace_chars,
            )
            if not rt.settings.dag_selected(event.run.dag_id):
                return
            rt.dispatcher.submit(event)
            if kind != EventKind.TASK_RUNNING and role == "task":
                rt.dispatcher.flush(rt.settings.flush_timeout)
        except Exception as exc:
            _hook_failed(rt, hook, exc)

    # -- DAG runs ------------------------------------------------------------------------
    @hookimpl(tryfirst=True)
    def on_dag_run_running(self, dag_run: Any, msg: Any) -> None:
        self._dag_run("on_dag_run_running", EventKind.DAG_RUN_RUNNING, dag_run, msg)

    @hookimpl(tryfirst=True)
    def on_dag_run_success(self, dag_run: Any, msg: Any) -> None:
        self._dag_run("on_dag_run_success", EventKind.DAG_RUN_SUCCESS, dag_run, msg)

    @hookimpl(tryfirst=True)
    def on_dag_run_failed(self, dag_run: Any, msg: Any) -> None:
        self._dag_run("on_dag_run_failed", EventKind.DAG_RUN_FAILED, dag_run, msg)

    def _dag_run(self, hook: str, kind: EventKind, dag_run: Any, msg: Any) -> None:
        rt = None
        try:
            rt = runtime.get()
            if rt is None or not rt.settings.dag_selected(adapter.text(adapter.attr(dag_run, "dag_id")) or ""):
                return
            role = runtime.role()
            if kind == EventKind.DAG_RUN_RUNNING:
                rt.dispatcher.submit(adapter.dag_run_event(kind, dag_run, msg, role=role))
                return
            # A run ended by hand (api-server) was accounted for when it really ended.
            synthesize = rt.settings.synthesize_task_spans and role != "api-server"
            event = adapter.dag_run_end_event(kind, dag_run, msg, role=role, synthesize=synthesize)
            rt.dispatcher.submit(event)
            if synthesize:
                inflight.check_later(
                    runtime.inflight_dir(rt.settings), event, rt.settings.flush_timeout + 1.0, rt.dispatcher.submit
                )
        except Exception as exc:
            _hook_failed(rt, hook, exc)

    # -- lifecycle -----------------------------------------------------------------------
    @hookimpl(tryfirst=True)
    def on_starting(self, component: Any) -> None:
        rt = None
        try:
            runtime.set_role(adapter.role_of_component(component))
            rt = runtime.get()
            if rt is not None and runtime.role() in runtime.FORKING_ROLES:
                runtime.preload(rt.settings)
            if rt is not None:
                rt.dispatcher.submit(
                    adapter.lifecycle_event(EventKind.COMPONENT_STARTING, component, role=runtime.role())
                )
        except Exception as exc:
            _hook_failed(rt, "on_starting", exc)

    @hookimpl(tryfirst=True)
    def before_stopping(self, component: Any) -> None:
        rt = None
        try:
            rt = runtime.get()
            if rt is not None:
                rt.dispatcher.submit(
                    adapter.lifecycle_event(EventKind.COMPONENT_STOPPING, component, role=runtime.role())
                )
                rt.dispatcher.flush(rt.settings.flush_timeout)
        except Exception as exc:
            _hook_failed(rt, "before_stopping", exc)

    # -- assets and import errors --------------------------------------------------------
    @hookimpl(tryfirst=True)
    def on_asset_created(self, asset: Any) -> None:
        self._simple("on_asset_created", lambda role: adapter.asset_event(EventKind.ASSET_CREATED, asset, role=role))

    @hookimpl(tryfirst=True)
    def on_asset_alias_created(self, asset_alias: Any) -> None:
        self._simple(
            "on_asset_alias_created",
            lambda role: adapter.asset_event(EventKind.ASSET_ALIAS_CREATED, asset_alias, role=role),
        )

    @hookimpl(tryfirst=True)
    def on_asset_changed(self, asset: Any) -> None:
        self._simple("on_asset_changed", lambda role: adapter.asset_event(EventKind.ASSET_CHANGED, asset, role=role))

    @hookimpl(tryfirst=True)
    def on_asset_event_emitted(self, asset_event: Any) -> None:
        self._simple(
            "on_asset_event_emitted",
            lambda role: adapter.asset_event(EventKind.ASSET_EVENT_EMITTED, asset_event, role=role),
        )

    @hookimpl(tryfirst=True)
    def on_new_dag_import_error(self, filename: Any, stacktrace: Any) -> None:
        self._simple(
            "on_new_dag_import_error",
            lambda role: adapter.import_error_event(EventKind.IMPORT_ERROR_NEW, filename, stacktrace, role=role),
        )

    @hookimpl(tryfirst=True)
    def on_existing_dag_import_error(self, filename: Any, stacktrace: Any) -> None:
        self._simple(
            "on_existing_dag_import_error",
            lambda role: adapter.import_error_event(EventKind.IMPORT_ERROR_EXISTING, filename, stacktrace, role=role),
        )

    def _simple(self, hook: str, build: Any) -> None:
        rt = None
        try:
            rt = runtime.get()
            if rt is not None:
                rt.dispatcher.submit(build(runtime.role()))
        except Exception as exc:
            _hook_failed(rt, hook, exc)


def _hook_failed(rt: runtime.Runtime | None, hook: str, exc: BaseException) -> None:
    """Count and log (once per incident) a failure inside a hook; never raise from here."""
    try:
        if rt is not None:
            rt.health.count_hook_error(hook, exc)
        else:
            runtime.log.warning("otel_listener: hook %s failed before start-up: %r", hook, exc)
    except Exception:
        pass


listener = OtelListener()

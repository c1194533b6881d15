"""52.3.6 Listener configuration: environment variables, airflow.cfg, validation, conditional use.

``otel_listener/config.py`` is the one place configuration is read. ``load_settings()`` reads
each option from ``AIRFLOW__OTEL_LISTENER__<KEY>`` or, if unset, from the ``[otel_listener]``
section of airflow.cfg (environment wins, as everywhere in Airflow), validates it, and records
where every value came from (``Settings.sources``). An invalid value never stops Airflow: it is
logged once and replaced by a safe fallback (an unreadable switch falls back to *off*). The
per-process runtime (``otel_listener/runtime.py``) loads the settings once, at the first hook.

Options: ``enabled`` (master switch), ``traces_enabled``, ``metrics_enabled``,
``flush_timeout`` (seconds a task process may wait for export at its end), ``queue_size``,
``metric_export_interval``, ``include_dags`` / ``exclude_dags`` (comma-separated dag_id globs),
``synthesize_task_spans``, ``max_stacktrace_chars`` (and whatever else ``config.OPTIONS`` lists).

The curriculum's other sources, honestly:

* **Airflow Variables** are *not* read by the listener. Settings are needed before any task code
  runs and in the scheduler's hooks, where a Variable lookup would be an API/database round trip
  on the hot path. Put listener settings in the deployment's environment (Helm ``env``, systemd,
  docker-compose) or airflow.cfg. What you *can* do with a candidate configuration held anywhere
  (a Variable, a file) is validate it with the same code: ``load_settings(environ={...},
  file_lookup=...)`` is pure and returns the values, their sources and the problems found --
  ``validate_candidate`` does that below.
* **Connections**: the exporter endpoint is not an Airflow Connection; it is the standard
  OpenTelemetry configuration read by the OTel SDK on the sink threads:
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or per signal ``..._TRACES_ENDPOINT``/``..._METRICS_ENDPOINT``),
  ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` or ``grpc``), ``OTEL_EXPORTER_OTLP_HEADERS``
  (e.g. an auth token: keep it in a secret-backed env var), ``OTEL_EXPORTER_OTLP_TIMEOUT``,
  ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``.
* **Conditional loading**: the plugin registers no listener outside Airflow 3.x
  (``plugin.compatible_listeners``); ``enabled=false`` turns every hook into a no-op;
  ``include_dags``/``exclude_dags`` select DAGs (``Settings.dag_selected``);
  ``traces_enabled``/``metrics_enabled`` switch signals.

What the tasks do: ``show_settings`` prints the settings this process's hooks are using, with
their sources and problems, the effective OTel exporter environment (header values masked),
and which DAG ids the include/exclude globs select. ``validate_candidate`` checks a candidate
configuration without applying it. ``fail_once`` (``retries=1``) produces an ``exception``
span event, whose ``exception.stacktrace`` is cut to ``max_stacktrace_chars``.

Telemetry depends on the configuration, e.g. with ``AIRFLOW__OTEL_LISTENER__METRICS_ENABLED=false``
no metric is exported at all while spans still are; with ``OTEL_SERVICE_NAME=x`` the resource's
``service.name`` is ``x``; with ``[otel_listener] max_stacktrace_chars = 600`` the stack traces on
span events are at most 600 characters.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

SAMPLE_DAG_IDS = ("52_03_06_listener_configuration", "scratch_experiment", "team_sandbox", "billing_daily")

with DAG(
    dag_id="52_03_06_listener_configuration",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "core", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def show_settings():
        from dataclasses import fields

        from otel_listener import runtime
        from otel_listener.config import load_settings
        from otel_listener.plugin import SUPPORTED_AIRFLOW, compatible_listeners

        rt = runtime.get()
        settings = rt.settings if rt is not None else load_settings()
        values = {
            f.name: list(v) if isinstance(v := getattr(settings, f.name), tuple) else v
            for f in fields(settings)
            if f.name not in ("sources", "problems")
        }
        otel_env = {}
        for key, value in sorted(os.environ.items()):
            if key.startswith("OTEL_"):
                otel_env[key] = "***" if "HEADERS" in key else value
        report = {
            "listener_enabled_in_this_process": rt is not None,
            "values": values,
            "sources": dict(settings.sources),
            "problems": list(settings.problems),
            "dag_selected": {dag_id: settings.dag_selected(dag_id) for dag_id in SAMPLE_DAG_IDS},
            "otel_env": otel_env,
            "plugin_registers_listener": bool(compatible_listeners()),
            "supported_airflow": [list(v) for v in SUPPORTED_AIRFLOW],
        }
        for key in values:
            log.info("%-24s = %-28r (from %s)", key, values[key], settings.sources.get(key, "default"))
        for problem in settings.problems:
            log.warning("configuration problem: %s", problem)
        return report

    @task
    def validate_candidate():
        """Check a configuration before rolling it out (e.g. one kept in a Variable or a file)."""
        from otel_listener.config import load_settings

        candidate_env = {
            "AIRFLOW__OTEL_LISTENER__QUEUE_SIZE": "5",
            "AIRFLOW__OTEL_LISTENER__INCLUDE_DAGS": "billing_*, 52_*",
        }
        # Stands in for an [otel_listener] section (sources are labelled "airflow.cfg ...").
        candidate_cfg = {"flush_timeout": "2", "traces_enabled": "maybe"}
        # Problems are logged as warnings by load_settings, then returned; nothing is applied.
        checked = load_settings(environ=candidate_env, file_lookup=candidate_cfg.get)
        result = {
            "queue_size": checked.queue_size,
            "include_dags": list(checked.include_dags),
            "flush_timeout": checked.flush_timeout,
            "traces_enabled": checked.traces_enabled,
            "sources": dict(checked.sources),
            "problems": list(checked.problems),
        }
        log.info("candidate configuration checked: %s", result)
        return result

    @task(retries=1, retry_delay=timedelta(seconds=1))
    def fail_once():
        ti = get_current_context()["ti"]
        if ti.try_number == 1:
            raise RuntimeError("simulated failure: look at the length of exception.stacktrace")
        return {"try_number": ti.try_number}

    show_settings() >> validate_candidate() >> fail_once()

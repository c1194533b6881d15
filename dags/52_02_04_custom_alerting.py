"""52.2.4 Custom alerting rules: repeated failures, SLA breaches, task patterns, aggregation.

``otel_listener``'s rules engine (``otel_listener/alerting/engine.py``) turns listener events
into alerts from a YAML rules file (``[otel_listener] alert_rules_file``):

* ``match``: dag_id/task_id globs, DAG tags, owner, operator, outcome, duration;
* ``condition``: ``final_failure`` (not retries), ``failures_in_window`` (N failures of the
  same task within a window), ``sla`` (above an absolute limit or a multiple of the recent
  median), ``recovery`` (first success after failures);
* ``aggregate_seconds`` batches every alert of a window into ONE message; ``dedup_seconds``,
  per-destination ``rate_limit`` and ``quiet_hours`` keep channels quiet.

What a rule needs across task processes (failure windows, durations, open incidents,
batches) lives in a shared SQLite store under the listener's ``state_dir``.

Each task below feeds events through the real engine in dry-run mode with a manual clock
(``otel_listener.alerting.preview``) and returns what fired, so the run shows every rule kind
in a second without any destination configured.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

SLACK = {"slack": {"type": "slack", "conn_id": "slack_alerts"}}


def _run_id() -> str:
    return get_current_context()["run_id"]


with DAG(
    dag_id="52_02_04_custom_alerting",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "patterns", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def repeated_failures():
        from otel_listener.alerting.preview import Preview, task_end

        rule = {"name": "flaky", "condition": {"type": "failures_in_window", "threshold": 3, "window_seconds": 600}}
        preview = Preview({"destinations": SLACK, "rules": [{**rule, "destinations": ["slack"]}]})
        fired = []
        for minute in range(5):  # a failed try every 2 minutes
            event = task_end("ingest", "fetch", "retry", run_id=f"{_run_id()}-{minute}", error="TimeoutError: api")
            fired.append(len(preview.feed(event)))
            preview.advance(120)
        log.info("alerts per failure: %s (the 3rd fires, later ones are the same window)", fired)
        return {"fired": fired}

    @task
    def sla_breaches():
        from otel_listener.alerting.preview import Preview, task_end

        rule = {"name": "sla", "condition": {"type": "sla", "max_seconds": 300, "median_factor": 3, "min_samples": 3}}
        preview = Preview({"destinations": SLACK, "rules": [{**rule, "destinations": ["slack"]}]})
        durations = [40, 42, 38, 41, 150, 320]
        fired = [
            len(preview.feed(task_end("etl", "transform", "success", run_id=f"r{i}", seconds=s)))
            for i, s in enumerate(durations)
        ]
        details = [m["payload"]["blocks"][1]["text"]["text"] for m in preview.messages]
        return {"durations": durations, "fired": fired, "details": details}

    @task
    def task_patterns_aggregated():
        from otel_listener.alerting.preview import Preview, task_end

        rule = {
            "name": "publish-failures",
            "match": {"task_id": "publish_*", "outcome": ["failed"]},
            "condition": "any",
            "destinations": ["slack"],
            "aggregate_seconds": 60,
        }
        preview = Preview({"destinations": SLACK, "rules": [rule]})
        for task_id in ("publish_eu", "publish_us", "extract", "publish_apac", "publish_latam"):
            preview.feed(task_end("reports", task_id, "failed", run_id=_run_id(), error="IOError: disk full"))
            preview.advance(5)
        before = len(preview.messages)
        preview.advance(60)
        (message,) = preview.messages
        return {"before_window_end": before, "messages": len(preview.messages), "alerts": message["alerts"]}

    [repeated_failures(), sla_breaches(), task_patterns_aggregated()]

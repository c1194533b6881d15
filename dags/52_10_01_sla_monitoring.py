"""52.10.1 SLA monitoring: compliance tracking, early warnings, history, reporting.

An SLA monitor built from listener events with ``otel_listener``'s rules engine:

* track SLA compliance: every task end carries its duration (``end - start``); the alert state
  store keeps the last durations of each dag/task, shared by all task processes;
* early warning: ``condition: {type: sla, median_factor: 1.5}`` fires (severity ``warning``)
  when a run takes 1.5x its recent median, before the hard limit is reached;
* breach: ``{type: sla, max_seconds: 120}`` fires as ``critical``;
* historical analysis: the median comes from history (``min_samples`` runs first);
* reporting integration: alerts to the ``report`` destination are aggregated
  (``aggregate_seconds``) into one digest, the way a daily SLA email would be.

The DAG-level counterpart (``airflow.sla_miss`` is gone in Airflow 3) is exported as metrics:
``airflow.task.duration`` / ``airflow.dag_run.duration`` histograms for dashboards. With no
destination configured the task replays a day of runs through the engine in dry-run mode and
returns the compliance report and the alerts it produced.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

LIMIT = 120
RULES = {
    "destinations": {
        "slack": {"type": "slack", "conn_id": "slack_sla"},
        "report": {"type": "email", "conn_id": "smtp_default", "to": ["sla-report@example.com"]},
    },
    "rules": [
        {
            "name": "early-warning",
            "match": {"task_id": "load_*"},
            "condition": {"type": "sla", "median_factor": 1.5, "min_samples": 5},
            "severity": "warning",
            "destinations": ["slack"],
        },
        {
            "name": "breach",
            "match": {"task_id": "load_*"},
            "condition": {"type": "sla", "max_seconds": LIMIT},
            "severity": "critical",
            "destinations": ["slack", "report"],
        },
        {
            "name": "digest",
            "match": {"task_id": "load_*", "min_duration": LIMIT},
            "condition": "any",
            "destinations": ["report"],
            "aggregate_seconds": 86400,
        },
    ],
}

with DAG(
    dag_id="52_10_01_sla_monitoring",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "patterns", "advanced", "success"],
    doc_md=__doc__,
):

    @task
    def sla_report():
        import statistics

        from otel_listener.alerting.preview import Preview, task_end

        run_id = get_current_context()["run_id"]
        preview = Preview(RULES)
        durations = [60, 62, 58, 61, 59, 95, 60, 130, 63, 150]  # one run per hour
        warnings, breaches = [], []
        for hour, seconds in enumerate(durations):
            for m in preview.feed(
                task_end("warehouse", "load_orders", "success", run_id=f"{run_id}-{hour}", seconds=seconds)
            ):
                (warnings if "median" in str(m["payload"]) else breaches).append(hour)
            preview.advance(3600)
        preview.advance(86400)  # the digest window closes
        digests = [m for m in preview.messages if m["destination"] == "report" and m["alerts"] > 1]
        report = {
            "runs": len(durations),
            "within_sla": sum(d <= LIMIT for d in durations),
            "compliance_pct": round(100 * sum(d <= LIMIT for d in durations) / len(durations), 1),
            "median_seconds": statistics.median(durations),
            "early_warning_hours": sorted(set(warnings)),
            "breach_hours": sorted(set(breaches)),
            "digest_alerts": digests[0]["alerts"] if digests else 0,
        }
        log.info("SLA report: %s", report)
        return report

    sla_report()

"""52.6.2 PagerDuty integration: Events API v2 triggers, severity mapping, dedup, resolve.

``otel_listener/alerting/destinations/pagerduty.py`` sends Events API v2 events (routing key
in an Airflow Connection's password, e.g. ``AIRFLOW_CONN_PAGERDUTY_DEFAULT``):

* alert on failures: ``condition: final_failure`` triggers (retries do not page);
* severity mapping: each rule sets ``severity`` (critical/error/warning/info), so a
  ``critical``-tagged DAG pages as critical and an SLA warning as warning;
* deduplication: ``dedup_key`` = ``airflow/<dag_id>/<task_id>``; while that incident is open
  the engine does not send repeats at all (PagerDuty would fold them into the same incident);
* acknowledgment handling: acknowledging happens in PagerDuty; an acknowledged incident stays
  open, so repeats stay quiet until the task recovers: then the ``recovery`` rule sends
  ``resolve`` with the same ``dedup_key`` and a later failure opens a new incident.

With no routing key configured the task renders the events in dry-run mode and returns them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

RULES = {
    "destinations": {"pagerduty": {"type": "pagerduty", "conn_id": "pagerduty_default", "source": "airflow-prod"}},
    "rules": [
        {
            "name": "critical-failures",
            "match": {"tags": ["critical"]},
            "condition": "final_failure",
            "severity": "critical",
            "destinations": ["pagerduty"],
        },
        {
            "name": "slow",
            "condition": {"type": "sla", "max_seconds": 600},
            "severity": "warning",
            "destinations": ["pagerduty"],
        },
        {"name": "recovered", "condition": "recovery", "destinations": ["pagerduty"]},
    ],
}

with DAG(
    dag_id="52_06_02_pagerduty_integration",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "patterns", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def pagerduty_preview():
        from otel_listener.alerting.preview import Preview, task_end

        run_id = get_current_context()["run_id"]
        preview = Preview(RULES)
        crit = {"tags": ("critical",)}
        for attempt in range(3):  # three failed runs: one incident
            error = f"RuntimeError: refused #{attempt}"
            preview.feed(task_end("billing", "charge", "failed", run_id=f"{run_id}-{attempt}", error=error, **crit))
            preview.advance(300)
        preview.feed(task_end("billing", "charge", "success", run_id=f"{run_id}-ok", **crit))  # recovery -> resolve
        preview.feed(task_end("reports", "render", "success", run_id=run_id, seconds=900))  # SLA warning
        events = [
            {
                "event_action": m["payload"]["event_action"],
                "dedup_key": m["payload"]["dedup_key"],
                "severity": m["payload"].get("payload", {}).get("severity"),
            }
            for m in preview.messages
        ]
        for event in events:
            log.info("PagerDuty event: %s", event)
        return {
            "events": events,
            "first_trigger": preview.messages[0]["payload"],
            "suppressed": dict(preview.suppressed),
        }

    pagerduty_preview()

"""52.2.2 External notifications: Slack, email and PagerDuty from listener events, by configuration.

Instead of calling a webhook in every DAG's ``on_failure_callback``, ``otel_listener`` sends
notifications from the listener: the hooks hand immutable events to the alerting sink
(``otel_listener/alerting/sink.py``), which evaluates rules on its own thread (never on the
task's path) and delivers to destinations with retries, a circuit breaker and a dead-letter
spool. Configure it with a rules file (``[otel_listener] alert_rules_file``, example in
``examples/alert-rules.yaml``) and credentials in Airflow Connections.

Conditional notifications, shown here:

* a failed try that will be retried (outcome ``retry``) notifies nobody;
* a final failure (``condition: final_failure``) goes to Slack and email;
* a final failure of a DAG tagged ``critical`` also pages PagerDuty;
* a success notifies nobody, unless it ends a failure streak (``condition: recovery``).

With no destination configured the DAG still runs: ``notify_preview`` feeds this run's events
through the real engine and renderers in dry-run mode (``otel_listener.alerting.preview``),
logs exactly what Slack, PagerDuty and the email would receive, and returns a summary.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

RULES = {
    "defaults": {"jaeger_url": "http://localhost:16686"},
    "destinations": {
        "slack": {"type": "slack", "conn_id": "slack_alerts"},
        "email": {"type": "email", "conn_id": "smtp_default", "to": ["data-oncall@example.com"]},
        "pagerduty": {"type": "pagerduty", "conn_id": "pagerduty_default"},
    },
    "rules": [
        {"name": "final-failures", "condition": "final_failure", "destinations": ["slack", "email"]},
        {
            "name": "page-critical",
            "match": {"tags": ["critical"]},
            "condition": "final_failure",
            "severity": "critical",
            "destinations": ["pagerduty"],
        },
        {"name": "recovered", "condition": "recovery", "destinations": ["slack", "pagerduty"]},
    ],
}

with DAG(
    dag_id="52_02_02_external_notifications",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "patterns", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def notify_preview():
        from otel_listener.alerting.preview import Preview, task_end

        run_id = get_current_context()["run_id"]
        preview = Preview(RULES)
        steps = {
            "retry (try 1 of 2)": task_end("orders", "extract", "retry", run_id=run_id, error="ConnectionError: 503"),
            "success (try 2)": task_end("orders", "extract", "success", run_id=run_id, try_number=2),
            "final failure": task_end("orders", "load", "failed", run_id=run_id, error="ValueError: bad <row> & co"),
            "critical final failure": task_end(
                "billing", "charge", "failed", run_id=run_id, tags=("critical",), error="RuntimeError: refused"
            ),
            "recovery": task_end("billing", "charge", "success", run_id=run_id, tags=("critical",), try_number=1),
        }
        sent = {}
        for step, event in steps.items():
            messages = preview.feed(event)
            sent[step] = sorted(m["destination"] for m in messages)
            log.info("%s -> %s", step, sent[step] or "no notification")
        email = preview.by_destination()["email"][0]
        return {"sent": sent, "email_subject": email["subject"], "email_html": email["html"]}

    notify_preview()

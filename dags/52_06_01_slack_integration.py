"""52.6.1 Slack integration: incoming webhook, Block Kit formatting, channel routing, rate limits.

``otel_listener/alerting/destinations/slack.py`` posts one Block Kit message per notification
to a Slack incoming webhook (URL in an Airflow Connection's password, e.g.
``AIRFLOW_CONN_SLACK_ALERTS='{"conn_type": "slackwebhook", "password": "https://hooks.slack.com/services/..."}'``,
or in an environment variable named by ``url_env``):

* formatting: a header, per alert a section with DAG/task/run, outcome, the rule's reason and
  the masked error, and links to the task log and the trace in Jaeger; all values escaped for
  mrkdwn (``<!channel>`` in an error message cannot ping anyone); Slack's limits respected
  (50 blocks, 3000 characters per section, 150 per header);
* channel routing: each incoming webhook posts to one channel, so rules route by naming the
  destination (``slack-billing`` vs ``slack-data``);
* rate limiting: ``rate_limit: {count, per_seconds}`` per destination, shared by every process
  through the alert state store; what is over the limit is counted, not sent.

With no webhook configured the task renders the messages in dry-run mode and returns them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

log = logging.getLogger(__name__)

RULES = {
    "defaults": {"jaeger_url": "http://localhost:16686"},
    "destinations": {
        "slack-billing": {"type": "slack", "conn_id": "slack_billing"},
        "slack-data": {"type": "slack", "conn_id": "slack_data", "rate_limit": {"count": 3, "per_seconds": 600}},
    },
    "rules": [
        {
            "name": "billing",
            "match": {"dag_id": "billing_*"},
            "condition": "final_failure",
            "destinations": ["slack-billing"],
        },
        {
            "name": "everything-else",
            "match": {"dag_id": "[!b]*"},
            "condition": "final_failure",
            "destinations": ["slack-data"],
        },
    ],
}

with DAG(
    dag_id="52_06_01_slack_integration",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["reference", "patterns", "intermediate", "success"],
    doc_md=__doc__,
):

    @task
    def slack_preview():
        from otel_listener.alerting.preview import Preview, task_end

        run_id = get_current_context()["run_id"]
        preview = Preview(RULES)
        preview.feed(
            task_end("billing_daily", "charge", "failed", run_id=run_id, error="RuntimeError: <!channel> refused")
        )
        for i in range(5):
            preview.feed(task_end("marketing_sync", f"push_{i}", "failed", run_id=run_id, error="KeyError: 'id'"))
        routed = {name: len(payloads) for name, payloads in preview.by_destination().items()}
        first = preview.by_destination()["slack-billing"][0]
        log.info("routed: %s; rate-limited: %s", routed, dict(preview.suppressed))
        return {"routed": routed, "suppressed": dict(preview.suppressed), "message": first}

    slack_preview()

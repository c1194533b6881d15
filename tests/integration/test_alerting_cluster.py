"""Alerting through the production path: scheduler + dag-processor + api-server, LocalExecutor.

Slack and PagerDuty are local servers that validate the vendors' documented formats. A DAG
fails three times (three runs at once); the alert rule aggregates final failures for 20 s:
exactly ONE Slack message (carrying the three failures) and ONE PagerDuty trigger arrive,
whichever process delivers them (the task processes that saw the failures have exited by then;
the scheduler's periodic tick takes the due batch from the shared SQLite store). The next
success resolves the PagerDuty incident with the same dedup_key.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

from alert_servers import VendorServer

from otel_listener.testing.cluster import AirflowHome, Cluster

DAGS = Path(__file__).resolve().parents[1] / "dags"
ROUTING_KEY = "e2eR0UT1NGKEY0123456789abcdef012"
RULES = """
defaults:
  jaeger_url: http://jaeger.test:16686
destinations:
  slack: {type: slack, conn_id: slack_e2e}
  pagerduty: {type: pagerduty, conn_id: pagerduty_e2e, source: airflow-e2e}
rules:
  - name: alert-failures
    match: {dag_id: "otel_alert", tags: [critical], owner: "billing-*"}
    condition: final_failure
    severity: critical
    destinations: [slack, pagerduty]
    aggregate_seconds: 20
  - name: alert-recovered
    match: {dag_id: "otel_alert"}
    condition: recovery
    destinations: [slack, pagerduty]
"""


def test_three_failures_one_slack_message_one_pagerduty_trigger_then_resolve():
    slack = VendorServer("slack").start()
    pagerduty = VendorServer("pagerduty").start()
    path = Path(tempfile.mkdtemp(prefix="otel-alerting-"))
    (path / "rules.yaml").write_text(RULES)
    home = AirflowHome(
        path,
        DAGS,
        extra_env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__OTEL_LISTENER__TRACES_ENABLED": "false",
            "AIRFLOW__OTEL_LISTENER__METRICS_ENABLED": "false",
            "AIRFLOW__OTEL_LISTENER__METRIC_EXPORT_INTERVAL": "1",
            "AIRFLOW__OTEL_LISTENER__STATE_DIR": str(path / "state"),
            "AIRFLOW__OTEL_LISTENER__ALERT_RULES_FILE": str(path / "rules.yaml"),
            "AIRFLOW_CONN_SLACK_E2E": json.dumps({"conn_type": "slackwebhook", "password": slack.url}),
            "AIRFLOW_CONN_PAGERDUTY_E2E": json.dumps(
                {"conn_type": "http", "host": pagerduty.url, "password": ROUTING_KEY}
            ),
        },
    )
    home.migrate()
    try:
        with Cluster(home) as cluster:
            cluster.wait_for_dag("otel_alert")
            runs = [
                cluster.api("POST", "dags/otel_alert/dagRuns", {"logical_date": None, "conf": {"fail": True}})[
                    "dag_run_id"
                ]
                for _ in range(3)
            ]
            assert [cluster.wait_for_run("otel_alert", r, 180) for r in runs] == ["failed"] * 3
            ends = sorted(
                datetime.fromisoformat(str(e))
                for (e,) in home.query("SELECT end_date FROM task_instance WHERE dag_id = 'otel_alert'")
            )
            assert (ends[-1] - ends[0]).total_seconds() < 15, "the failures must fall into one aggregation window"
            assert slack.wait_for(lambda s: len(s.valid) >= 1, 60), slack.requests
            assert pagerduty.wait_for(lambda s: len(s.valid) >= 1, 30), pagerduty.requests
            time.sleep(3)  # nothing else may follow
            assert slack.invalid == [] and pagerduty.invalid == []
            (message,) = slack.valid
            text = json.dumps(message)
            assert message["blocks"][0]["text"]["text"] == "3 alerts (alert-failures)"
            assert all(r in text for r in runs) and text.count("RuntimeError") == 3
            assert "&lt;card declined&gt; &amp; more" in text and "http://jaeger.test:16686/trace/" in text
            (trigger,) = pagerduty.valid
            assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
            assert trigger["dedup_key"] == "airflow/otel_alert/charge"
            assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "airflow-e2e"

            ok = cluster.api("POST", "dags/otel_alert/dagRuns", {"logical_date": None, "conf": {}})["dag_run_id"]
            assert cluster.wait_for_run("otel_alert", ok, 180) == "success"
            assert pagerduty.wait_for(lambda s: len(s.valid) == 2, 60), pagerduty.requests
            resolve = pagerduty.valid[1]
            assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger["dedup_key"]
            assert slack.wait_for(lambda s: len(s.valid) == 2, 30)
            assert slack.valid[1]["blocks"][0]["text"]["text"] == "Recovered: otel_alert.charge"
            time.sleep(2)
            assert len(pagerduty.valid) == 2 and len(slack.valid) == 2 and pagerduty.invalid == []
            outbox = path / "state" / "alerts" / "outbox"
            assert [p for p in outbox.rglob("*.json")] == []
    finally:
        slack.stop()
        pagerduty.stop()

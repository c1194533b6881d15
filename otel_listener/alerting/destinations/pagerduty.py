"""PagerDuty Events API v2: trigger on alerts, resolve on recovery, one incident per dag/task.

The ``dedup_key`` is ``airflow/<dag_id>/<task_id>``: repeats of a failure update the same
incident instead of opening new ones (and the engine does not even send them while the
incident is open), and the recovery resolves exactly that incident. Payload fields and limits
follow the Events API v2 reference: ``summary`` <= 1024 characters, ``severity`` one of
critical/error/warning/info, ``dedup_key`` <= 255, ``source`` required, ISO 8601 timestamp.
The routing key is added at send time only: the outbox on disk never holds it.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone

from otel_listener.alerting.destinations.base import HttpDestination, jaeger_link, secret, truncate

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY = 1024
DEDUP_KEY = 255
DETAIL_VALUE = 4000


def _summary(alert: dict, count: int) -> str:
    s = alert["subject"]
    what = f"{s['dag_id']}.{s['task_id']}" if s["task_id"] else f"DAG {s['dag_id']}"
    text = f"Airflow {what}: {alert['detail']}"
    if s["error_type"] or s["error_message"]:
        text += f" — {s['error_type']}: {s['error_message']}".replace("\n", " ")
    if count > 1:
        text += f" ({count} alerts in this window)"
    return truncate(text, SUMMARY)


class PagerDutyDestination(HttpDestination):
    type = "pagerduty"

    def render(self, alerts: list[dict]) -> list[dict]:
        """One event per incident key and action; the newest alert of a batch describes it."""
        grouped: dict[tuple[str, str], list[dict]] = {}
        for alert in alerts:
            grouped.setdefault((alert["dedup_key"], alert["kind"]), []).append(alert)
        return [self._event(group[-1], len(group)) for group in grouped.values()]

    def _event(self, alert: dict, count: int) -> dict:
        s = alert["subject"]
        dedup_key = truncate(alert["dedup_key"], DEDUP_KEY, "")
        if alert["kind"] == "resolve":
            return {"event_action": "resolve", "dedup_key": dedup_key}
        links = []
        if s["log_url"]:
            links.append({"href": s["log_url"], "text": "Task log"})
        trace = jaeger_link(self.jaeger_url, s["trace_id"])
        if trace:
            links.append({"href": trace, "text": "Trace in Jaeger"})
        details = {
            "dag_id": s["dag_id"],
            "task_id": s["task_id"],
            "run_id": s["run_id"],
            "try_number": s["try_number"],
            "outcome": s["outcome"],
            "rule": alert["rule"],
            "condition": alert["condition"],
            "error": truncate(f"{s['error_type']}: {s['error_message']}" if s["error_type"] else "", DETAIL_VALUE),
            "duration_seconds": s["duration"],
            "alerts_in_window": count,
            "trace_id": s["trace_id"],
        }
        event = {
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": _summary(alert, count),
                "source": str(self.options.get("source") or socket.gethostname() or "airflow"),
                "severity": alert["severity"],
                "timestamp": datetime.fromtimestamp(alert["at"], timezone.utc).isoformat(),
                "component": s["task_id"] or s["dag_id"],
                "group": s["dag_id"],
                "class": alert["condition"],
                "custom_details": details,
            },
            "client": "Airflow (otel-listener)",
            "links": links,
        }
        if s["log_url"]:
            event["client_url"] = s["log_url"]
        return event

    def _target(self) -> tuple[str, str]:
        url = str(self.options.get("url") or "")
        key = secret(
            self.options,
            "routing_key_env",
            lambda c: (
                c.password or str((c.extra or {}).get("routing_key") or (c.extra or {}).get("integration_key") or "")
            ),
        )
        if not url and self.options.get("conn_id"):
            from otel_listener.alerting.destinations.base import connection

            host = connection(str(self.options["conn_id"])).host
            url = host if host.startswith(("http://", "https://")) else ""
        return url or EVENTS_URL, key

    def send(self, payload: dict, deadline: float) -> None:
        url, key = self._target()
        self.post(url, {"routing_key": key, **payload}, deadline)

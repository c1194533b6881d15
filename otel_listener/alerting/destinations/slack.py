"""Slack incoming webhook: one Block Kit message per notification (a batch = one message).

Limits respected (Slack's Block Kit reference): at most 50 blocks per message, section text
3000 characters, header plain text 150, context elements 10; the top-level ``text`` (the
notification fallback) is kept under 3000. Every value is escaped for mrkdwn (``&``, ``<``,
``>``) and backticks in code spans are neutralised, so DAG ids, run ids and error messages
can neither inject links/mentions nor break the layout. Links go to the task log and to the
trace in Jaeger (``defaults.jaeger_url`` + ``/trace/<trace id>``).
"""

from __future__ import annotations

from typing import Any

from otel_listener.alerting.destinations.base import HttpDestination, jaeger_link, secret, truncate

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
FALLBACK_TEXT = 3000
MAX_ALERTS_SHOWN = 15  # 1 header + 2 blocks per alert + 1 "more" context <= 50
ICONS = {"critical": ":red_circle:", "error": ":red_circle:", "warning": ":warning:", "info": ":large_green_circle:"}


def escape(text: object) -> str:
    """Slack mrkdwn control characters (the three Slack documents) escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


BACKTICK_STANDIN = "\u02cb"  # looks like a backtick, cannot close a code span


def code(text: object) -> str:
    return "`" + escape(str(text).replace("`", BACKTICK_STANDIN).replace("\n", " ")) + "`"


def _url(url: str) -> str:
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def _title(alerts: list[dict]) -> str:
    first = alerts[0]
    s = first["subject"]
    what = f"{s['dag_id']}.{s['task_id']}" if s["task_id"] else s["dag_id"]
    if first["kind"] == "resolve":
        head = f"Recovered: {what}"
    elif len(alerts) == 1:
        head = f"{first['severity'].upper()}: {what} {s['outcome']}"
    else:
        head = f"{len(alerts)} alerts ({first['rule']})"
    return head


def _section(alert: dict) -> str:
    s = alert["subject"]
    lines = [f"*DAG* {code(s['dag_id'])}"]
    if s["task_id"]:
        lines[0] += f"  *Task* {code(s['task_id'])}" + (f" [{s['map_index']}]" if s["map_index"] >= 0 else "")
    lines.append(f"*Run* {code(s['run_id'])}" + (f"  *Try* {s['try_number']}" if s["task_id"] else ""))
    lines.append(f"*Outcome* {escape(s['outcome'])} — {escape(alert['detail'])}  _(rule {escape(alert['rule'])})_")
    if s["error_type"] or s["error_message"]:
        error = f"{s['error_type']}: {s['error_message']}" if s["error_type"] else s["error_message"]
        head = "\n".join(lines) + "\n*Error*\n```"
        budget = SECTION_TEXT - len(head) - 3
        body = escape(error.replace("```", BACKTICK_STANDIN * 3))
        lines = [head + truncate(body, budget) + "```"]
    return truncate("\n".join(lines), SECTION_TEXT)


def _links(alert: dict, jaeger: str) -> dict | None:
    s = alert["subject"]
    parts = []
    if s["log_url"]:
        parts.append(f"<{_url(s['log_url'])}|Task log>")
    trace = jaeger_link(jaeger, s["trace_id"])
    if trace:
        parts.append(f"<{_url(trace)}|Trace in Jaeger>")
    if s["duration"] is not None:
        parts.append(f"duration {s['duration']:.1f}s")
    if not parts:
        return None
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate("  ·  ".join(parts), SECTION_TEXT)}]}


class SlackDestination(HttpDestination):
    type = "slack"

    def render(self, alerts: list[dict]) -> list[dict]:
        icon = ICONS.get(alerts[0]["severity"], "")
        title = _title(alerts)
        blocks: list[dict] = [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(title, HEADER_TEXT), "emoji": True}}
        ]
        for alert in alerts[:MAX_ALERTS_SHOWN]:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _section(alert)}})
            links = _links(alert, self.jaeger_url)
            if links:
                blocks.append(links)
        if len(alerts) > MAX_ALERTS_SHOWN:
            more = f"… and {len(alerts) - MAX_ALERTS_SHOWN} more alert(s) in this window"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
        payload: dict[str, Any] = {
            "text": truncate(f"{icon} {escape(title)}".strip(), FALLBACK_TEXT),
            "blocks": blocks[:MAX_BLOCKS],
        }
        channel = alerts[0].get("channel") or self.options.get("channel")
        if channel:
            payload["channel"] = str(channel)  # honoured by legacy webhooks; routing = one webhook per channel
        for key in ("username", "icon_emoji"):
            if self.options.get(key):
                payload[key] = str(self.options[key])
        return [payload]

    def _webhook(self) -> str:
        def pick(c) -> str:  # type: ignore[no-untyped-def]
            for value in (c.password, c.host):
                if value.startswith(("http://", "https://")):
                    return value
            return f"https://hooks.slack.com/services/{c.password}" if c.password else ""

        return secret(self.options, "url_env", pick)

    def send(self, payload: dict, deadline: float) -> None:
        self.post(self._webhook(), payload, deadline)

"""Email through SMTP (Airflow's ``smtp_default`` connection, or the one named by ``conn_id``).

A multipart message: plain text plus HTML in which every value is HTML-escaped. The
connection's ``host``/``port``/``login``/``password`` are used; extras ``ssl: true`` (SMTPS)
and ``starttls`` (``true``/``false``; default: use it when the server offers it) choose the
transport, ``from_email`` the sender. Errors never carry the password.
"""

from __future__ import annotations

import html
import smtplib
import ssl
import time
from email.message import EmailMessage
from typing import Any

from otel_listener.alerting.destinations.base import DeliveryError, connection, jaeger_link, truncate

SUBJECT = 200
BODY = 100_000


def _line(alert: dict) -> tuple[str, str]:
    s = alert["subject"]
    what = f"{s['dag_id']}.{s['task_id']}" if s["task_id"] else s["dag_id"]
    error = f"{s['error_type']}: {s['error_message']}" if s["error_type"] else s["error_message"]
    text = f"- {what} run {s['run_id']} try {s['try_number']}: {s['outcome']} — {alert['detail']}"
    if error:
        text += f"\n  error: {error}"
    return what, text + "\n"


class EmailDestination:
    type = "email"

    def __init__(self, name: str, options: dict[str, Any], jaeger_url: str = "") -> None:
        self.name = name
        self.options = options
        self.jaeger_url = jaeger_url

    def render(self, alerts: list[dict]) -> list[dict]:
        first = alerts[0]
        what, _ = _line(first)
        prefix = str(self.options.get("subject_prefix", "[Airflow]"))
        verb = "recovered" if first["kind"] == "resolve" else first["subject"]["outcome"]
        subject = f"{prefix} {what} {verb}" if len(alerts) == 1 else f"{prefix} {len(alerts)} alerts ({first['rule']})"
        text_parts, rows = [], []
        for alert in alerts:
            s = alert["subject"]
            text_parts.append(_line(alert)[1])
            links = []
            if s["log_url"]:
                links.append(f'<a href="{html.escape(s["log_url"], quote=True)}">Task log</a>')
            trace = jaeger_link(self.jaeger_url, s["trace_id"])
            if trace:
                links.append(f'<a href="{html.escape(trace, quote=True)}">Trace</a>')
            error = f"{s['error_type']}: {s['error_message']}" if s["error_type"] else s["error_message"]
            cells = [s["dag_id"], s["task_id"], s["run_id"], str(s["try_number"]), s["outcome"], alert["detail"]]
            rows.append(
                "<tr>"
                + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                + f"<td><pre>{html.escape(truncate(error, 4000))}</pre></td><td>{' '.join(links)}</td></tr>"
            )
        body_html = (
            f"<html><body><h3>{html.escape(subject)}</h3><table border='1' cellpadding='4'>"
            "<tr><th>DAG</th><th>Task</th><th>Run</th><th>Try</th><th>Outcome</th><th>Why</th><th>Error</th>"
            "<th>Links</th></tr>" + "".join(rows) + "</table></body></html>"
        )
        return [
            {
                "subject": truncate(subject.replace("\n", " "), SUBJECT),
                "text": truncate("".join(text_parts), BODY),
                "html": truncate(body_html, BODY),
                "to": list(self.options.get("to") or [])
                if not isinstance(self.options.get("to"), str)
                else [self.options["to"]],
            }
        ]

    def send(self, payload: dict, deadline: float) -> None:
        c = connection(str(self.options.get("conn_id") or "smtp_default"))
        extra = c.extra or {}
        sender = str(self.options.get("from") or extra.get("from_email") or c.login or "airflow@localhost")
        message = EmailMessage()
        message["Subject"] = payload["subject"]
        message["From"] = sender
        message["To"] = ", ".join(payload["to"])
        message.set_content(payload["text"])
        message.add_alternative(payload["html"], subtype="html")
        timeout = max(0.1, min(30.0, deadline - time.monotonic()))
        use_ssl = str(extra.get("ssl", "")).lower() == "true"
        try:
            factory = smtplib.SMTP_SSL if use_ssl else smtplib.SMTP
            with factory(c.host or "localhost", c.port or (465 if use_ssl else 25), timeout=timeout) as smtp:
                smtp.ehlo()
                starttls = str(extra.get("starttls", "auto")).lower()
                if not use_ssl and (starttls == "true" or (starttls == "auto" and smtp.has_extn("starttls"))):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if c.login:
                    smtp.login(c.login, c.password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP failed ({type(exc).__name__})") from None

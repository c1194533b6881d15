"""Alert destinations against local servers that check the vendors' documented formats.

Slack and PagerDuty: ``tests/alert_servers.py`` validates every request (fields, types,
limits) and answers like the vendor; email goes to a real SMTP server (aiosmtpd) started here.
Also: retries and ``Retry-After``, the circuit breaker, the dead-letter spool and redelivery,
secret masking and per-format escaping. All loopback, all bounded.
"""

from __future__ import annotations

import email
import json
import logging
import re
import time
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest
from alert_servers import VendorServer, validate_pagerduty, validate_slack

from otel_listener.alerting import rules
from otel_listener.alerting.destinations import build
from otel_listener.alerting.destinations.base import CircuitBreaker, DeliveryError, parse_retry_after, post_json
from otel_listener.alerting.engine import Engine
from otel_listener.alerting.sink import AlertSink
from otel_listener.alerting.state import SQLiteStore
from otel_listener.events import ErrorInfo, EventKind, Outcome, RunRef, TaskEvent
from otel_listener.health import Health

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"
SECRET = "hunter2-Sup3rSecret"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def slack():
    server = VendorServer("slack").start()
    yield server
    server.stop()


@pytest.fixture
def pagerduty():
    server = VendorServer("pagerduty").start()
    yield server
    server.stop()


_n = iter(range(10**6))


def failed(task_id: str = "load", message: str = "boom", dag_id: str = "billing", outcome: str = "failed") -> TaskEvent:
    return TaskEvent(
        kind=EventKind.TASK_SUCCESS if outcome == "success" else EventKind.TASK_FAILED,
        run=RunRef(dag_id, f"manual__2026-11-24T12:00:{next(_n):02d}+00:00"),
        task_id=task_id,
        try_number=1,
        outcome=Outcome(outcome),
        start_date=T0,
        end_date=T0 + timedelta(seconds=3),
        operator="PythonOperator",
        owner="data",
        dag_tags=("critical",),
        error=ErrorInfo("ValueError", message) if outcome == "failed" else None,
        log_url="http://airflow.local:8080/dags/billing/runs/r/tasks/load?try_number=1&map_index=-1",
    )


def make_sink(tmp_path: Path, doc: dict, **kw) -> AlertSink:
    ruleset = rules.parse(doc)
    engine = Engine(ruleset, SQLiteStore(tmp_path / "state.sqlite"), kw.pop("clock", time.time))
    destinations = {n: build(d, ruleset.jaeger_url) for n, d in ruleset.destinations.items()}
    return AlertSink(engine, destinations, tmp_path / "alerts", Health(), **kw)


def slack_doc(**rule) -> dict:
    return {
        "defaults": {"jaeger_url": "http://jaeger.local:16686"},
        "destinations": {"slack": {"type": "slack", "url_env": "TEST_SLACK_URL"}},
        "rules": [{"name": "r", "condition": "any", "destinations": ["slack"], **rule}],
    }


def pd_doc() -> dict:
    return {
        "destinations": {"pd": {"type": "pagerduty", "conn_id": "pd_test", "source": "airflow-test"}},
        "rules": [
            {"name": "fail", "condition": "final_failure", "severity": "critical", "destinations": ["pd"]},
            {"name": "ok", "condition": "recovery", "destinations": ["pd"]},
        ],
    }


# -- Slack ---------------------------------------------------------------------------------------


def test_slack_block_kit_contract_escaping_links_and_limits(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink = make_sink(tmp_path, slack_doc(aggregate_seconds=0.2))
    hostile = "<!channel> & <http://evil|click> `code` ```block``` *bold* " + "x" * 10_000
    for i in range(60):
        sink.handle(failed(task_id=f"task_{i:02d}", message=hostile))
    time.sleep(0.25)
    sink.flush(5)
    assert slack.invalid == []
    (body,) = slack.valid  # 60 alerts in the window -> one message
    assert validate_slack(body) == [] and len(body["blocks"]) <= 50
    assert body["blocks"][0]["type"] == "header" and "60 alerts" in body["blocks"][0]["text"]["text"]
    assert "and 45 more alert(s)" in json.dumps(body)
    section = body["blocks"][1]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in section
    assert "```block```" not in section and len(section) <= 3000 and section.endswith("…```")
    links = body["blocks"][2]["elements"][0]["text"]
    assert "|Task log>" in links and re.search(
        r"<http://jaeger.local:16686/trace/[0-9a-f]{32}\|Trace in Jaeger>", links
    )
    assert "*DAG* `billing`" in section and "*Task* `task_00`" in section


def test_slack_channel_routing_by_rule(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink = make_sink(tmp_path, slack_doc(channel="#billing-oncall"))
    sink.handle(failed())
    assert [b["channel"] for b in slack.valid] == ["#billing-oncall"]


def test_slack_webhook_from_an_airflow_connection(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps({"conn_type": "slackwebhook", "password": slack.url}))
    doc = slack_doc()
    doc["destinations"]["slack"] = {"type": "slack", "conn_id": "slack_test"}
    make_sink(tmp_path, doc).handle(failed())
    assert len(slack.valid) == 1 and slack.requests[0].path == "/services/T000/B000/XXXXSECRET"


# -- PagerDuty -----------------------------------------------------------------------------------


def test_pagerduty_events_v2_contract_trigger_once_then_resolve(tmp_path, pagerduty, monkeypatch):
    conn = {"conn_type": "http", "host": pagerduty.url, "password": ROUTING_KEY}
    monkeypatch.setenv("AIRFLOW_CONN_PD_TEST", json.dumps(conn))
    sink = make_sink(tmp_path, pd_doc())
    sink.handle(failed(message="x" * 5000))
    sink.handle(failed())  # repeat while the incident is open: not sent
    sink.handle(failed(outcome="success"))
    sink.handle(failed(outcome="success"))  # already resolved
    assert pagerduty.invalid == []
    trigger, resolve = pagerduty.valid
    assert validate_pagerduty(trigger) == [] and validate_pagerduty(resolve) == []
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "airflow/billing/load"
    assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "critical"
    assert len(trigger["payload"]["summary"]) == 1024 and trigger["payload"]["source"] == "airflow-test"
    assert trigger["links"][0]["href"].startswith("http://airflow.local:8080/")
    # The routing key is added at send time: nothing on disk ever held it.
    assert not any(ROUTING_KEY in p.read_text() for p in (tmp_path / "alerts").rglob("*.json"))


def test_the_vendor_validators_reject_what_the_vendors_reject():
    assert validate_slack({"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]})
    assert validate_slack(
        {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]}
    )
    assert validate_slack({"text": "x", "blocks": [{"type": "divider"}] * 51})
    assert validate_pagerduty({"routing_key": "short", "event_action": "trigger", "payload": {}})
    assert validate_pagerduty({"routing_key": ROUTING_KEY, "event_action": "resolve"})  # no dedup_key
    ok = {"summary": "s", "source": "a", "severity": "error"}
    assert validate_pagerduty({"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": ok}) == []
    assert validate_pagerduty(
        {"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {**ok, "severity": "high"}}
    )


# -- retries, Retry-After, circuit breaker, dead letters -----------------------------------------


def test_retries_honour_retry_after_then_succeed(slack):
    slack.script = [(429, {"Retry-After": "1.5"}, "rate_limited"), (503, {}, "oops")]
    waits: list[float] = []
    status = post_json(slack.url, {"text": "hi"}, time.monotonic() + 30, sleep=waits.append, base_backoff=0.25)
    assert status == 200 and waits == [1.5, 0.5] and len(slack.valid) == 1


def test_a_retry_after_beyond_the_deadline_keeps_the_message_and_pauses_the_destination(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink = make_sink(tmp_path, slack_doc())
    slack.script = [(429, {"Retry-After": "120"}, "rate_limited")]
    started = time.monotonic()
    sink.handle(failed())
    assert time.monotonic() - started < 5  # did not sleep 120 s
    assert len(sink.outbox["slack"].entries()) == 1 and not sink.breakers["slack"].allow()
    sink.deliver(time.monotonic() + 2)
    assert slack.valid == []  # paused: the server is not asked again before Retry-After
    sink.breakers["slack"].not_before = 0
    sink.deliver(time.monotonic() + 2)
    assert len(slack.valid) == 1 and sink.outbox["slack"].entries() == []


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("soon") is None


def test_circuit_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    now = [1000.0]
    sink = make_sink(tmp_path, slack_doc(), breaker=lambda: CircuitBreaker(3, 60, clock=lambda: now[0]))
    slack.script = [(503, {}, "down")] * 50
    sink.enqueue(sink.engine.evaluate(failed()))
    for _ in range(6):
        sink.deliver(time.monotonic() + 0.2)  # one attempt fits per round
    assert len(slack.script) == 50 - 3  # 3 attempts, then open: no more requests
    assert sink.breakers["slack"].state == "open"
    now[0] += 61
    assert sink.breakers["slack"].state == "half_open"
    slack.script = []
    sink.deliver(time.monotonic() + 2)
    assert len(slack.valid) == 1 and sink.breakers["slack"].state == "closed"


def test_rejected_messages_go_to_the_dead_letter_spool_and_are_redelivered(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink = make_sink(tmp_path, slack_doc())
    slack.script = [(400, {}, "invalid_payload")]
    sink.handle(failed(task_id="first"))
    sink.handle(failed(task_id="second"))  # not blocked by the rejected one
    assert ["second" in json.dumps(b) for b in slack.valid] == [True]
    (dead,) = sink.dead["slack"].entries()
    assert "HTTP 400" in json.loads(dead.read_text())["error"]
    assert sink.redeliver("slack") == 1 and sink.dead["slack"].entries() == []
    sink.deliver(time.monotonic() + 5)
    assert ["first" in json.dumps(b) for b in slack.valid] == [False, True]


def test_messages_unsent_for_too_long_become_dead_letters(tmp_path, slack, monkeypatch):
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    wall = [T0.timestamp()]
    sink = make_sink(tmp_path, slack_doc(), dead_letter_after=600, wall_clock=lambda: wall[0], send_timeout=0.2)
    slack.script = [(503, {}, "down")] * 20
    sink.handle(failed())
    assert len(sink.outbox["slack"].entries()) == 1
    wall[0] += 601
    sink.deliver(time.monotonic() + 0.2)
    assert sink.outbox["slack"].entries() == [] and len(sink.dead["slack"].entries()) == 1


def test_a_missing_credential_is_retried_later_not_fatal(tmp_path, slack, monkeypatch):
    sink = make_sink(tmp_path, slack_doc())
    sink.handle(failed())  # TEST_SLACK_URL unset
    assert len(sink.outbox["slack"].entries()) == 1
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink.flush(5)
    assert len(slack.valid) == 1


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_are_masked_in_every_destination_and_on_disk_and_never_logged(
    tmp_path, slack, pagerduty, monkeypatch, caplog
):
    from airflow.sdk._shared.secrets_masker import mask_secret

    mask_secret(SECRET)
    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    monkeypatch.setenv("TEST_PD_KEY", ROUTING_KEY)
    doc = slack_doc()
    doc["destinations"]["pd"] = {"type": "pagerduty", "routing_key_env": "TEST_PD_KEY", "url": pagerduty.url}
    doc["destinations"]["log"] = {"type": "log", "file": str(tmp_path / "dry.jsonl")}
    doc["rules"][0]["destinations"] = ["slack", "pd", "log"]
    sink = make_sink(tmp_path, doc)
    slack.script = [(500, {}, "x")] * 8  # failures are logged: the webhook URL must not be
    with caplog.at_level(logging.DEBUG, logger="otel_listener"):
        sink.handle(failed(message=f"login failed for password={SECRET}"))
        sink.deliver(time.monotonic() + 0.1)
    slack.script = []
    sink.flush(5)
    sent = json.dumps(slack.valid) + json.dumps(pagerduty.valid) + (tmp_path / "dry.jsonl").read_text()
    assert "password=***" in json.dumps(slack.valid) and "password=***" in json.dumps(pagerduty.valid)
    assert SECRET not in sent
    assert not any(
        SECRET in p.read_text() for p in (tmp_path / "alerts").rglob("*") if p.is_file() and p.suffix == ".json"
    )
    assert "XXXXSECRET" not in caplog.text and ROUTING_KEY not in caplog.text
    assert "alert destination slack failed" in caplog.text


# -- email (real SMTP server) --------------------------------------------------------------------


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 Message accepted for delivery"

    handler = Collect()
    from otel_listener.testing.cluster import free_port

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_email_through_a_real_smtp_server_html_escaped(tmp_path, smtp_server, monkeypatch):
    controller, handler = smtp_server
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": controller.port, "extra": {"from_email": "af@x.io"}}
        ),
    )
    doc = {
        "defaults": {"jaeger_url": "http://jaeger.local:16686"},
        "destinations": {"mail": {"type": "email", "conn_id": "smtp_test", "to": ["oncall@example.com"]}},
        "rules": [{"name": "r", "condition": "any", "destinations": ["mail"], "aggregate_seconds": 0.1}],
    }
    sink = make_sink(tmp_path, doc)
    sink.handle(failed(task_id="a", message="<script>alert('x')</script> & \"quoted\""))
    sink.handle(failed(task_id="b"))
    time.sleep(0.15)
    sink.flush(10)
    (mail_from, rcpt, raw) = handler.messages[0]
    assert len(handler.messages) == 1 and mail_from == "af@x.io" and rcpt == ["oncall@example.com"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "[Airflow] 2 alerts (r)"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<script>alert('x')</script>" in text  # plain text stays literal
    assert (
        "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    )
    assert 'href="http://jaeger.local:16686/trace/' in html and "map_index=-1" in html


def test_email_to_an_unreachable_server_stays_in_the_outbox(tmp_path, monkeypatch):
    from otel_listener.testing.cluster import free_port

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", f"smtp://127.0.0.1:{free_port()}")
    doc = {
        "destinations": {"mail": {"type": "email", "conn_id": "smtp_test", "to": "oncall@example.com"}},
        "rules": [{"name": "r", "condition": "any", "destinations": ["mail"]}],
    }
    sink = make_sink(tmp_path, doc)
    sink.handle(failed())
    assert len(sink.outbox["mail"].entries()) == 1 and sink.counts["failed:mail"] >= 1


def test_dry_run_renders_the_real_payloads_without_credentials(tmp_path):
    doc = pd_doc()
    doc["destinations"]["slack"] = {"type": "slack", "conn_id": "nowhere"}
    doc["rules"][0]["destinations"] = ["pd", "slack"]
    ruleset = rules.parse(doc, {"dry_run": "true"})
    for d in ruleset.destinations.values():
        d.options["file"] = str(tmp_path / "dry.jsonl")  # type: ignore[index]
    engine = Engine(ruleset, SQLiteStore(tmp_path / "s.sqlite"))
    sink = AlertSink(engine, {n: build(d) for n, d in ruleset.destinations.items()}, tmp_path / "alerts", Health())
    sink.handle(failed())
    lines = [json.loads(line) for line in (tmp_path / "dry.jsonl").read_text().splitlines()]
    assert {(line["destination"], line["renders"]) for line in lines} == {("pd", "pagerduty"), ("slack", "slack")}
    pd = next(line["payload"] for line in lines if line["renders"] == "pagerduty")
    assert validate_pagerduty({"routing_key": ROUTING_KEY, **pd}) == []
    sink.handle(failed())  # a dry run keeps the incident semantics: no second PagerDuty trigger
    lines = (tmp_path / "dry.jsonl").read_text().splitlines()
    assert [json.loads(line)["destination"] for line in lines].count("pd") == 1


def test_delivery_errors_never_include_the_url(slack):
    with pytest.raises(DeliveryError) as info:
        slack.script = [(404, {}, "no_service")]
        post_json(slack.url, {"text": "x"}, time.monotonic() + 2)
    assert info.value.permanent and "XXXXSECRET" not in str(info.value) and "404" in str(info.value)


def test_cli_shows_and_redelivers_dead_letters(tmp_path, slack, monkeypatch, capsys):
    from otel_listener import cli

    monkeypatch.setenv("TEST_SLACK_URL", slack.url)
    sink = make_sink(tmp_path, slack_doc())
    slack.script = [(400, {}, "invalid_payload")]
    sink.handle(failed())
    folder = str(tmp_path / "alerts")
    assert cli.main(["alerts", "status", "--alerts-dir", folder]) == 0
    assert "slack: 0 waiting, 1 dead letter(s)" in capsys.readouterr().out
    assert cli.main(["alerts", "redeliver", "--alerts-dir", folder, "--destination", "slack"]) == 0
    assert "moved 1 dead letter(s)" in capsys.readouterr().out
    assert len(sink.outbox["slack"].entries()) == 1 and sink.dead["slack"].entries() == []
    sink.tick()
    assert len(slack.valid) == 1

"""Local stand-ins for Slack and PagerDuty that check the vendors' documented request formats.

Each server runs on 127.0.0.1, records every request, and answers like the vendor: a valid
request gets Slack's ``200 ok`` / PagerDuty's ``202 {"status": "success", ...}``; an invalid
one gets the vendor's 400 with the list of problems (and is recorded as invalid, so a test
fails on any format drift). ``script`` queues canned answers (e.g. 429 with ``Retry-After``,
503) to exercise retries, the circuit breaker and the dead-letter path.

The rules come from the vendors' references:
- Slack incoming webhooks + Block Kit: top-level ``text`` and/or ``blocks``; at most 50 blocks;
  ``header`` = plain_text <= 150 chars; ``section`` text <= 3000; ``context`` <= 10 elements;
  ``actions`` <= 25 elements; mrkdwn text objects are strings; block_id <= 255.
- PagerDuty Events API v2 (``/v2/enqueue``): ``routing_key`` 32 chars, ``event_action`` one of
  trigger/acknowledge/resolve, ``dedup_key`` <= 255 (required for acknowledge/resolve); a
  trigger needs ``payload`` with ``summary`` (<= 1024), ``source``, ``severity`` in
  critical/error/warning/info, optional ISO 8601 ``timestamp``, ``component``, ``group``,
  ``class``, object ``custom_details``; ``links`` [{href, text}], ``images``, ``client``,
  ``client_url``; whole event <= 512 KB.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_TOP = {"text", "blocks", "channel", "username", "icon_emoji", "icon_url", "mrkdwn", "unfurl_links", "thread_ts"}
SLACK_BLOCKS = {"header", "section", "context", "divider", "actions", "rich_text"}


def _text_object(obj: Any, where: str, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        return [f"{where}: text object of type {kinds} with a string text expected"]
    problems = []
    if not obj["text"]:
        problems.append(f"{where}: empty text")
    if len(obj["text"]) > limit:
        problems.append(f"{where}: {len(obj['text'])} chars > {limit}")
    return problems


def validate_slack(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = [f"unknown field {k}" for k in body if k not in SLACK_TOP]
    if "text" not in body and "blocks" not in body:
        problems.append("text or blocks required")
    if "text" in body and (not isinstance(body["text"], str) or len(body["text"]) > 40_000):
        problems.append("text must be a string <= 40000 chars")
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return [*problems, "blocks must be a list of at most 50"]
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in SLACK_BLOCKS:
            problems.append(f"{where}: unknown block type {kind!r}")
            continue
        if "block_id" in block and len(str(block["block_id"])) > 255:
            problems.append(f"{where}: block_id too long")
        if kind == "header":
            problems += _text_object(block.get("text"), where, 150, ("plain_text",))
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: section needs text or fields")
            if "text" in block:
                problems += _text_object(block["text"], where, 3000)
            for j, f in enumerate(block.get("fields", [])):
                problems += _text_object(f, f"{where}.fields[{j}]", 2000)
            if len(block.get("fields", [])) > 10:
                problems.append(f"{where}: more than 10 fields")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}: context needs 1..10 elements")
            else:
                for j, e in enumerate(elements):
                    problems += _text_object(e, f"{where}.elements[{j}]", 3000)
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
                problems.append(f"{where}: actions needs 1..25 elements")
    return problems


PD_TOP = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
PD_PAYLOAD = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}


def validate_pagerduty(body: Any, raw_size: int = 0) -> list[str]:
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = [f"unknown field {k}" for k in body if k not in PD_TOP]
    if raw_size > 512 * 1024:
        problems.append("event larger than 512 KB")
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("routing_key must be a 32-character string")
    action = body.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        problems.append("event_action must be trigger, acknowledge or resolve")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > 255):
        problems.append("dedup_key must be a non-empty string <= 255 chars")
    if action in ("acknowledge", "resolve") and dedup is None:
        problems.append(f"dedup_key required for {action}")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "payload required for trigger"]
        problems += [f"unknown payload field {k}" for k in payload if k not in PD_PAYLOAD]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            problems.append("payload.summary must be a non-empty string <= 1024 chars")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            problems.append("payload.source required")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            problems.append("payload.severity must be critical, error, warning or info")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(payload["timestamp"])
            except (TypeError, ValueError):
                problems.append("payload.timestamp must be ISO 8601")
        for k in ("component", "group", "class"):
            if k in payload and not isinstance(payload[k], str):
                problems.append(f"payload.{k} must be a string")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            problems.append("payload.custom_details must be an object")
    for i, link in enumerate(body.get("links", [])):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str) or set(link) - {"href", "text"}:
            problems.append(f"links[{i}] must be {{href, text}}")
    for k in ("client", "client_url"):
        if k in body and not isinstance(body[k], str):
            problems.append(f"{k} must be a string")
    return problems


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    problems: list[str]
    at: float = field(default_factory=time.monotonic)


class VendorServer:
    """``kind`` = ``slack`` or ``pagerduty``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.requests: list[Received] = []
        self.script: list[tuple[int, dict[str, str], str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        path = "/services/T000/B000/XXXXSECRET" if self.kind == "slack" else "/v2/enqueue"
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    @property
    def valid(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if not r.problems]

    @property
    def invalid(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.problems]

    def start(self) -> VendorServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                    if self.headers.get_content_type() != "application/json":
                        problems = ["Content-Type must be application/json"]
                    elif owner.kind == "slack":
                        problems = validate_slack(body)
                    else:
                        problems = validate_pagerduty(body, len(raw))
                except ValueError:
                    body, problems = raw.decode("utf-8", "replace"), ["not JSON"]
                with owner._lock:
                    canned = owner.script.pop(0) if owner.script else None
                    if canned is None:
                        owner.requests.append(Received(self.path, dict(self.headers), body, problems))
                if canned is not None:
                    status, headers, text = canned
                elif problems:
                    status, headers = 400, {}
                    text = (
                        "invalid_blocks"
                        if owner.kind == "slack"
                        else json.dumps({"status": "invalid event", "errors": problems})
                    )
                elif owner.kind == "slack":
                    status, headers, text = 200, {}, "ok"
                else:
                    status, headers = 202, {}
                    text = json.dumps(
                        {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key", "")}
                    )
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.1)
        return predicate(self)

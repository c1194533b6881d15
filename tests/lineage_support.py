"""Lineage test helpers: schema validation (official + ours) and a real local OpenLineage HTTP endpoint."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from referencing import Resource
from referencing.jsonschema import DRAFT202012

from otel_listener.lineage import facets

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path.insert(0, str(SHARED / "tools"))

from validate_openlineage import load_bundle, validate_event  # noqa: E402


def _our_validator():  # type: ignore[no-untyped-def]
    from jsonschema import Draft202012Validator

    bundle = load_bundle(SHARED / "openlineage-spec")
    schema = json.loads(facets.SCHEMA_FILE.read_text())
    registry = bundle.registry.with_resource(
        schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": facets.SCHEMA_URL}, registry=registry)


_OURS = None


def assert_valid(event: dict) -> None:
    """The event against the official schemas, and our facet against our schema."""
    global _OURS
    errors = validate_event(event, spec_dir=SHARED / "openlineage-spec")
    assert errors == [], (errors, event)
    facet = event["run"]["facets"].get(facets.FACET_KEY)
    assert facet is not None, event
    assert facet["_schemaURL"] == facets.SCHEMA_URL
    _OURS = _OURS or _our_validator()
    problems = [e.message for e in _OURS.iter_errors(facet)]
    assert problems == [], problems


class LineageBackend:
    """A real HTTP server accepting OpenLineage POSTs on loopback; can go down and come back on the same port."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LineageBackend:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with backend._lock:
                    backend.events.append(event)
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.events)):
                    return True
            time.sleep(0.2)
        with self._lock:
            return predicate(list(self.events))

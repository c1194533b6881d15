"""pytest fixtures for tests that need the real stack (importable as a plugin: ``stack.pytest_plugin``).

Fixtures (all session-scoped):

``stack``: Collector, Jaeger, Prometheus and Alertmanager on loopback, started by
:class:`stack.pystack.Stack` (builds what is missing first: a cold machine compiles the
Collector and Jaeger, ~5-15 min; the progress is printed live). Alertmanager delivers to
``webhook``. A stack already running from this checkout (``make stack-up``) is restarted so that
Alertmanager points at the test's webhook; it is stopped at the end of the session.
``webhook``: a local HTTP server recording what Alertmanager posts (``webhook.alerts()``).
``stack_binaries``: paths of the built/installed binaries (no server started).

Use from any conftest: ``pytest_plugins = ["stack.pytest_plugin"]`` in the root conftest (one
stack per session for every suite), or ``from stack.pytest_plugin import stack, webhook``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stack.pystack import Stack


class Webhook:
    """A local HTTP server that records what Alertmanager posts to it."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"unparsed": body.decode(errors="replace")}
                with hook._lock:
                    hook.payloads.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    def start(self) -> Webhook:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [alert for payload in self.payloads for alert in payload.get("alerts", [])]


@pytest.fixture(scope="session")
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


@pytest.fixture(scope="session")
def stack_binaries(pytestconfig: pytest.Config) -> dict[str, str]:
    """Collector/Jaeger binaries (built or cached) and Prometheus tools (installed if missing)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    # Show the build's progress lines live: a cold build takes minutes.
    with capture.global_and_fixture_disabled() if capture else _null():
        return Stack().build()


@pytest.fixture(scope="session")
def stack(stack_binaries: dict[str, str], webhook: Webhook, pytestconfig: pytest.Config) -> Iterator[Stack]:
    s = Stack(webhook_url=webhook.url)
    s.down()  # a stack started from this checkout: restart it with the test's webhook
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else _null():
        s.up()
    try:
        yield s
    finally:
        s.down()


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

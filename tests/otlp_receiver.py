"""A minimal OTLP/HTTP (protobuf) receiver for tests: records spans and metric data points.

It decodes requests with the official ``opentelemetry-proto`` messages, so what it records is
what any Collector would have received. ``mode`` switches it into failure behaviours used by
fault tests: ``"ok"``, ``"error"`` (HTTP 503), ``"blackhole"`` (accept, never answer) or
``"slow"`` (answer after ``delay`` seconds). ``tls`` serves HTTPS with the given context.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    value = getattr(any_value, kind)
    if kind == "array_value":
        return [_value(v) for v in value.values]
    return value


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status_code: int
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource: dict[str, Any]


@dataclass
class Point:
    name: str
    kind: str
    temporality: int
    attributes: dict[str, Any]
    value: float
    count: int = 0
    resource: dict[str, Any] = field(default_factory=dict)


class Receiver:
    """Start with :meth:`start`; read :attr:`spans` / :attr:`points`; stop with :meth:`stop`."""

    def __init__(self, tls: Any = None) -> None:
        self.spans: list[Span] = []
        self.points: list[Point] = []
        self.requests = 0
        self.mode = "ok"
        self.delay = 0.0
        self._lock = threading.RLock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests += 1
                if receiver.mode == "blackhole":
                    receiver._release.wait(60)
                    return
                if receiver.mode == "slow":
                    receiver._release.wait(receiver.delay)
                if receiver.mode == "error":
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path.endswith("/v1/traces"):
                    receiver._traces(body)
                elif self.path.endswith("/v1/metrics"):
                    receiver._metrics(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        if tls is not None:  # an ssl.SSLContext with the server's certificate
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self.endpoint = f"https://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.points.clear()

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            for rs in request.resource_spans:
                resource = _attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append(
                            Span(
                                trace_id=s.trace_id.hex(),
                                span_id=s.span_id.hex(),
                                parent_span_id=s.parent_span_id.hex(),
                                name=s.name,
                                start_ns=s.start_time_unix_nano,
                                end_ns=s.end_time_unix_nano,
                                attributes=_attrs(s.attributes),
                                status_code=s.status.code,
                                events=[{"name": e.name, **_attrs(e.attributes)} for e in s.events],
                                links=[
                                    {
                                        "trace_id": ln.trace_id.hex(),
                                        "span_id": ln.span_id.hex(),
                                        **_attrs(ln.attributes),
                                    }
                                    for ln in s.links
                                ],
                                resource=resource,
                            )
                        )

    def _metrics(self, body: bytes) -> None:
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            for rm in request.resource_metrics:
                resource = _attrs(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        data = getattr(m, kind)
                        temporality = getattr(data, "aggregation_temporality", 0)
                        for dp in data.data_points:
                            if kind == "histogram":
                                value, count = dp.sum, dp.count
                            else:
                                value = dp.as_double if dp.WhichOneof("value") == "as_double" else dp.as_int
                                count = 0
                            self.points.append(
                                Point(m.name, kind, temporality, _attrs(dp.attributes), value, count, resource)
                            )

    # -- queries used by tests -------------------------------------------------------------
    def wait_for(self, predicate: Any, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.1)
        return False

    def _matching(self, name: str, labels: dict[str, Any]) -> list[Point]:
        with self._lock:
            return [
                p for p in self.points if p.name == name and all(p.attributes.get(k) == v for k, v in labels.items())
            ]

    def metric_sum(self, name: str, **labels: Any) -> float:
        """Sum of all delta points of ``name`` whose attributes include ``labels``."""
        return sum(p.value for p in self._matching(name, labels))

    def histogram_count(self, name: str, **labels: Any) -> int:
        return sum(p.count for p in self._matching(name, labels))

"""Where lineage events go: the openlineage-python client's transport, or OTLP log records.

``openlineage`` (default): the client builds its transport exactly as everywhere else --
``OPENLINEAGE_URL``/``OPENLINEAGE_API_KEY``, ``openlineage.yml`` (``OPENLINEAGE_CONFIG``,
the working directory, ``~/.openlineage``), ``OPENLINEAGE__TRANSPORT__*`` (http, console,
file, kafka, composite, ...). ``OPENLINEAGE_DISABLED=true`` turns it off.

``otlp``: each event is one OpenTelemetry log record (body: the event JSON; event name
``openlineage.run_event``; the record's trace/span id are the run's) exported to the
Collector with the standard ``OTEL_EXPORTER_OTLP_*`` settings, one pipe for all signals.

Senders raise when an event was not confirmed, so the spool keeps it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

EVENT_NAME = "openlineage.run_event"


class Sender(Protocol):
    kind: str

    def send(self, event: dict) -> None:
        """Deliver one event; raise unless the backend confirmed it."""


def configured(environ: Any = None) -> bool:
    """Whether any standard OpenLineage transport configuration is present (for ``lineage_enabled=auto``)."""
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OPENLINEAGE_URL") or any(k.startswith("OPENLINEAGE__TRANSPORT") for k in env):
        return True
    candidates = [env.get("OPENLINEAGE_CONFIG"), "openlineage.yml", str(Path.home() / ".openlineage/openlineage.yml")]
    return any(c and Path(c).is_file() for c in candidates)


class ClientSender:
    """Sends through the transport that ``OpenLineageClient()`` resolves from the standard configuration."""

    def __init__(self, client: Any = None) -> None:
        from openlineage.client import OpenLineageClient

        self.client = client or OpenLineageClient()
        self.kind = f"openlineage:{getattr(self.client.transport, 'kind', '?')}"

    def send(self, event: dict) -> None:
        from otel_listener.lineage import build  # lazy: ``configured()`` runs on the first hook's path

        client_event = build.to_client_event(event)
        if self.client.filter_event(client_event) is None:
            return  # the user's openlineage.yml filters it out: delivered as far as we are concerned
        # The transport directly: it raises on failure (the client's emit adds nothing we need).
        self.client.transport.emit(client_event)


class OtlpLogSender:
    """One OTLP log record per event, exported synchronously so success is known."""

    kind = "otlp"

    def __init__(self, version: str, timeout_cap: float | None, exporter: Any = None) -> None:
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from otel_listener.sinks import otlp

        if exporter is None:
            otlp.quiet_sdk_export_logs()
            timeout = otlp.export_timeout("logs", timeout_cap)
            if otlp.protocol("logs") == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
            else:
                from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            exporter = OTLPLogExporter(timeout=timeout)
        self.exporter = exporter
        self.resource = otlp.resource()
        self.scope = InstrumentationScope("otel_listener.lineage", version)

    def send(self, event: dict) -> None:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk._logs.export import LogRecordExportResult
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

        otel = (event.get("run", {}).get("facets") or {}).get("otelListener") or {}
        context = None
        if otel.get("traceId") and otel.get("spanId"):
            span = SpanContext(int(otel["traceId"], 16), int(otel["spanId"], 16), True, TraceFlags(TraceFlags.SAMPLED))
            context = set_span_in_context(NonRecordingSpan(span))
        from datetime import datetime

        when = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        record = LogRecord(
            timestamp=int(when.timestamp() * 1e9),
            context=context,
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body=json.dumps(event, separators=(",", ":"), sort_keys=True),
            attributes={
                "openlineage.event_type": event.get("eventType", ""),
                "openlineage.job.namespace": event["job"]["namespace"],
                "openlineage.job.name": event["job"]["name"],
                "openlineage.run.id": event["run"]["runId"],
            },
            event_name=EVENT_NAME,
        )
        result = self.exporter.export([ReadableLogRecord(record, self.resource, self.scope)])
        if result is not LogRecordExportResult.SUCCESS:
            raise ConnectionError("OTLP log export of a lineage event failed")


def make_sender(mode: str, version: str, timeout_cap: float | None) -> Sender:
    if mode == "otlp":
        return OtlpLogSender(version, timeout_cap)
    return ClientSender()

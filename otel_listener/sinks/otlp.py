"""OTLP exporters and the resource, configured from the standard ``OTEL_*`` variables.

Imports of the SDK and exporters happen here, on the sink threads, never on the hook path:
the first event pays nothing for them.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

DEFAULT_SERVICE_NAME = "airflow"
PROTOCOLS = ("http/protobuf", "grpc")


def protocol(signal: str) -> str:
    """``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL`` (spec default http/protobuf)."""
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    value = raw.strip().lower()
    if value not in PROTOCOLS:
        raise ValueError(f"unsupported OTLP protocol {raw!r}; use one of {', '.join(PROTOCOLS)}")
    return value


def export_timeout(signal: str, cap: float | None) -> float:
    """The exporter's timeout in seconds: the OTEL_* value, capped in short-lived processes.

    A task process must not out-wait its flush deadline; an exporter that gives up by then
    also stops retrying a refused connection, so a dead collector costs a few milliseconds.
    """
    raw = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT", "10"
    )
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"OTEL_EXPORTER_OTLP_TIMEOUT={raw!r} is not a number of seconds") from exc
    if value <= 0:
        value = 10.0
    return value if cap is None else max(0.05, min(value, cap))


class _OwnThreadsOnly(logging.Filter):
    """Silence the SDK exporters' per-failure log lines, but only for exports made by our sinks.

    Our sinks count every failed export and log it once per incident; the SDK would add a line
    per attempt (every task, every tick). Other users of the SDK in the process are untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not threading.current_thread().name.startswith("otel-listener-")


_FILTER = _OwnThreadsOnly()


_SDK_EXPORT_LOGGERS = (
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.sdk.metrics._internal.export",
)


def quiet_sdk_export_logs() -> None:
    for name in _SDK_EXPORT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def span_exporter(timeout: float) -> Any:
    quiet_sdk_export_logs()
    if protocol("traces") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter(timeout=timeout)


def metric_exporter(timeout: float, preferred_temporality: dict[type, Any]) -> Any:
    quiet_sdk_export_logs()
    if protocol("metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    return OTLPMetricExporter(timeout=timeout, preferred_temporality=preferred_temporality)


def resource() -> Any:
    """Resource from ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME``, ``service.name`` defaulting to airflow.

    Deliberately no per-process identity: all task processes must report the same metric
    streams. Recent SDKs add a random ``service.instance.id`` in ``Resource.create()``; it is
    removed again unless the user set one in ``OTEL_RESOURCE_ATTRIBUTES``.
    """
    from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource

    detected = Resource.create()
    attributes = dict(detected.attributes)
    if SERVICE_INSTANCE_ID not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes.pop(SERVICE_INSTANCE_ID, None)
    name = attributes.get(SERVICE_NAME)
    if not name or str(name).startswith("unknown_service"):
        attributes[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    return Resource(attributes, detected.schema_url)


def attribute_value_limit() -> int:
    """``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``, default 4096."""
    for name in ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"):
        raw = os.environ.get(name)
        if raw:
            try:
                return max(1, int(raw))
            except ValueError:
                continue
    return 4096

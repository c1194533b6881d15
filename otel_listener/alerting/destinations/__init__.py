"""Destinations: ``render(alerts) -> payloads`` (pure, no credentials) and ``send(payload, deadline)``."""

from __future__ import annotations

from typing import Any

from otel_listener.alerting.rules import Destination


def build(dest: Destination, jaeger_url: str = "") -> Any:
    """The destination object of a rules-file entry (``log`` wraps the renderer it stands in for)."""
    from otel_listener.alerting.destinations.email import EmailDestination
    from otel_listener.alerting.destinations.log import LogDestination
    from otel_listener.alerting.destinations.pagerduty import PagerDutyDestination
    from otel_listener.alerting.destinations.slack import SlackDestination

    kinds = {"slack": SlackDestination, "pagerduty": PagerDutyDestination, "email": EmailDestination}
    options = dict(dest.options)
    if dest.type == "log":
        renders = options.get("renders")
        renderer = kinds[renders](dest.name, options, jaeger_url) if renders in kinds else None
        return LogDestination(dest.name, options, renderer)
    return kinds[dest.type](dest.name, options, jaeger_url)

"""Dry run / capture: render what a real destination would send, then log it (and append to a file).

Used for ``type: log`` destinations and for every destination when ``alert_dry_run`` is on:
the payloads are rendered by the real Slack/PagerDuty/email code (``renders``), only the
delivery is replaced, so a dry run shows exactly the message, never a credential.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("otel_listener")


class LogDestination:
    type = "log"

    def __init__(self, name: str, options: dict[str, Any], renderer: Any = None) -> None:
        self.name = name
        self.options = options
        self.renderer = renderer

    def render(self, alerts: list[dict]) -> list[dict]:
        if self.renderer is not None:
            return [{"renders": self.renderer.type, "payload": p} for p in self.renderer.render(alerts)]
        return [{"renders": "log", "payload": {"alerts": alerts}}]

    def send(self, payload: dict, deadline: float) -> None:
        line = json.dumps({"destination": self.name, **payload}, sort_keys=True, default=str)
        log.info("otel_listener alert (dry run) %s", line)
        target = self.options.get("file")
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as out:
                out.write(line + "\n")

"""What every destination shares: credentials, HTTP delivery with retries, the circuit breaker.

- Credentials come from an Airflow Connection (``AIRFLOW_CONN_<ID>`` in the environment, else
  ``airflow.sdk.BaseHook.get_connection``) or an environment variable. They are never logged:
  errors name the destination, never its URL or key.
- :func:`post_json` retries 429/5xx and connection errors with exponential backoff, honouring
  ``Retry-After``, inside a deadline; 4xx other than 408/429 are permanent (retrying a payload
  the vendor rejected only repeats the rejection), so that entry goes to the dead-letter spool.
- :class:`CircuitBreaker`: after ``threshold`` consecutive failures the destination is not
  tried for ``cooldown`` seconds; then one attempt decides (half-open).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any


class DeliveryError(Exception):
    """A send failed. ``permanent``: retrying cannot help; ``retry_after``: the vendor's wish."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass
class Credentials:
    host: str = ""
    login: str = ""
    password: str = ""
    port: int | None = None
    schema: str = ""
    extra: dict[str, Any] | None = None


def connection(conn_id: str) -> Credentials:
    """An Airflow Connection by id: ``AIRFLOW_CONN_<ID>`` (URI or JSON) first, then Airflow's lookup."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    try:
        from airflow.sdk import Connection

        if raw is not None:
            parse = Connection.from_json if raw.lstrip().startswith("{") else Connection.from_uri
            conn = parse(raw, conn_id=conn_id)
        else:
            from airflow.sdk import BaseHook

            conn = BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise DeliveryError(f"connection {conn_id!r} not available ({type(exc).__name__})", permanent=False) from None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return Credentials(
        conn.host or "", conn.login or "", conn.password or "", conn.port, conn.schema or "", dict(extra or {})
    )


def secret(options: dict[str, Any], env_key: str, conn_field: Callable[[Credentials], str]) -> str:
    """A credential from ``options[env_key]`` (an env var name) or ``options['conn_id']``."""
    env_name = options.get(env_key)
    if env_name:
        value = os.environ.get(str(env_name), "")
        if not value:
            raise DeliveryError(f"environment variable {env_name} is empty", permanent=False)
        _mask(value)
        return value
    conn_id = options.get("conn_id")
    if not conn_id:
        raise DeliveryError(f"neither {env_key} nor conn_id configured", permanent=True)
    value = conn_field(connection(str(conn_id)))
    if not value:
        raise DeliveryError(f"connection {conn_id!r} has no credential", permanent=True)
    _mask(value)
    return value


def _mask(value: str) -> None:
    """Tell Airflow's masker about a credential so it never shows in logs of this process."""
    for module in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
        try:
            __import__(module, fromlist=["mask_secret"]).mask_secret(value)
        except Exception:
            continue


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - (now if now is not None else time.time()))
    except (TypeError, ValueError):
        return None


def post_json(
    url: str,
    body: dict,
    deadline: float,
    attempts: int = 4,
    base_backoff: float = 0.5,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    headers: dict[str, str] | None = None,
) -> int:
    """POST ``body``; retry transient failures until ``deadline`` (monotonic). Returns the status."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    backoff = base_backoff
    last: DeliveryError | None = None
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        request = urllib.request.Request(url, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=min(timeout, remaining)) as response:
                response.read(65536)
                return response.status
        except urllib.error.HTTPError as exc:
            retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            transient = exc.code in (408, 429) or exc.code >= 500
            detail = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
            last = DeliveryError(f"HTTP {exc.code} {detail[:200]}".strip(), not transient, retry_after)
            if not transient:
                raise last from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = DeliveryError(f"connection failed ({type(reason).__name__})")
        if attempt == attempts - 1:
            break
        wait = last.retry_after if last.retry_after is not None else backoff
        if time.monotonic() + wait >= deadline:
            break  # the vendor's wait does not fit: keep the entry for a later round
        sleep(wait)
        backoff *= 2
    raise last or DeliveryError("deadline reached before the first attempt")


class HttpDestination:
    """A destination that renders alerts into JSON payloads and POSTs them (Slack, PagerDuty)."""

    type = "http"

    def __init__(
        self, name: str, options: dict[str, Any], jaeger_url: str = "", post: Callable[..., Any] | None = None
    ) -> None:
        self.name = name
        self.options = options
        self.jaeger_url = jaeger_url
        self.post = post or post_json


class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; half-open after ``cooldown``."""

    def __init__(self, threshold: int = 5, cooldown: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.not_before = 0.0  # Retry-After asked for a pause

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        return self.state != "open" and self.clock() >= self.not_before

    def success(self) -> None:
        self.failures, self.opened_at = 0, None

    def failure(self, retry_after: float | None = None) -> None:
        self.failures += 1
        if retry_after:
            self.not_before = self.clock() + retry_after
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to ``limit`` characters (marker included)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def jaeger_link(base: str, trace_id: str) -> str:
    return f"{base}/trace/{trace_id}" if base and trace_id else ""

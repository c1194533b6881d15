"""Start, stop and query the local observability stack (Collector, Jaeger, Prometheus, Alertmanager).

Command line (what ``stack/stack.sh`` and ``make stack-*`` call)::

    python stack/pystack.py build|up|down|status [--webhook-url URL]

From Python (tests, demos)::

    from stack.pystack import Stack
    stack = Stack(webhook_url="http://127.0.0.1:8765/alerts")
    stack.up()                      # builds what is missing, starts, waits until healthy
    stack.prom_query("up")          # -> list of {"metric": ..., "value": [ts, "1"]}
    stack.down()                    # stops only the processes this stack started

Only the standard library is used. Everything listens on loopback. Logs and pid files go to
``.stack/`` in the repo (ignored by git); Prometheus and Alertmanager data go to temporary
folders under it that are wiped at every start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STACK_DIR = REPO / "stack"

COLLECTOR_OTLP_GRPC = "127.0.0.1:4317"
COLLECTOR_OTLP_HTTP_URL = "http://127.0.0.1:4318"
COLLECTOR_METRICS_URL = "http://127.0.0.1:8889/metrics"
COLLECTOR_TELEMETRY_URL = "http://127.0.0.1:8888/metrics"
COLLECTOR_HEALTH_URL = "http://127.0.0.1:13133/"
JAEGER_OTLP_GRPC = "127.0.0.1:14317"
JAEGER_URL = "http://127.0.0.1:16686"
PROMETHEUS_URL = "http://127.0.0.1:9090"
ALERTMANAGER_URL = "http://127.0.0.1:9093"
DEFAULT_WEBHOOK_URL = "http://127.0.0.1:9095/alerts"


class StackError(RuntimeError):
    """The stack could not be built, started or queried."""


def log(msg: str) -> None:
    print(f"[stack {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET url; (status, body). Connection errors give status 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``check`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # keep polling; report the last error on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def port_free(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str
    ports: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Stack:
    """The local stack: build, start, wait until healthy, stop, query."""

    def __init__(
        self,
        repo: Path = REPO,
        state_dir: Path | None = None,
        webhook_url: str | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.repo = Path(repo)
        self.state_dir = Path(state_dir) if state_dir else self.repo / ".stack"
        self.webhook_url = webhook_url or os.environ.get("ALERTMANAGER_WEBHOOK_URL") or DEFAULT_WEBHOOK_URL
        self.start_timeout = start_timeout
        self.binaries: dict[str, str] = {}

    # ----------------------------------------------------------------------- urls
    urls = {
        "collector_otlp_grpc": COLLECTOR_OTLP_GRPC,
        "collector_otlp_http": COLLECTOR_OTLP_HTTP_URL,
        "collector_metrics": COLLECTOR_METRICS_URL,
        "collector_telemetry": COLLECTOR_TELEMETRY_URL,
        "collector_health": COLLECTOR_HEALTH_URL,
        "jaeger": JAEGER_URL,
        "prometheus": PROMETHEUS_URL,
        "alertmanager": ALERTMANAGER_URL,
    }

    # ---------------------------------------------------------------------- build
    def build(self) -> dict[str, str]:
        """Install Prometheus/Alertmanager if missing, build (or find cached) Collector and Jaeger."""
        if self.binaries:
            return self.binaries
        env = dict(os.environ)
        subprocess.run(["bash", str(STACK_DIR / "ensure-prometheus.sh")], check=True, env=env)
        out = {}
        for key, script in (("collector", "build-collector.sh"), ("jaeger", "build-jaeger.sh")):
            proc = subprocess.run(
                ["bash", str(STACK_DIR / script)], check=False, env=env, stdout=subprocess.PIPE, text=True
            )
            if proc.returncode != 0:
                raise StackError(f"stack/{script} failed (exit {proc.returncode}); see its output above")
            path = proc.stdout.strip().splitlines()[-1]
            if not os.access(path, os.X_OK):
                raise StackError(f"stack/{script} printed {path!r}, which is not an executable")
            out[key] = path
        for name in ("prometheus", "prometheus-alertmanager"):
            path = shutil.which(name)
            if not path:
                raise StackError(f"{name} not found after stack/ensure-prometheus.sh")
            out[name] = path
        self.binaries = out
        return out

    # ------------------------------------------------------------------ services
    def services(self) -> list[Service]:
        b = self.build()
        s = self.state_dir
        return [
            Service(
                "jaeger",
                [b["jaeger"], "--config", str(self.repo / "jaeger/jaeger.yaml")],
                JAEGER_URL + "/api/services",
                ["127.0.0.1:14317", "127.0.0.1:14318", "127.0.0.1:16685", "127.0.0.1:16686"],
                # Jaeger would trace itself to the default OTLP endpoint, which is our Collector.
                env={"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "none"},
            ),
            Service(
                "collector",
                [b["collector"], "--config", str(self.repo / "collector-config/otelcol.yaml")],
                COLLECTOR_HEALTH_URL,
                ["127.0.0.1:4317", "127.0.0.1:4318", "127.0.0.1:8888", "127.0.0.1:8889", "127.0.0.1:13133"],
            ),
            Service(
                "alertmanager",
                [
                    b["prometheus-alertmanager"],
                    f"--config.file={s / 'alertmanager.yml'}",
                    f"--storage.path={s / 'alertmanager-data'}",
                    "--web.listen-address=127.0.0.1:9093",
                    "--cluster.listen-address=",
                ],
                ALERTMANAGER_URL + "/-/ready",
                ["127.0.0.1:9093"],
            ),
            Service(
                "prometheus",
                [
                    b["prometheus"],
                    f"--config.file={self.repo / 'prometheus/prometheus.yml'}",
                    f"--storage.tsdb.path={s / 'prometheus-data'}",
                    "--storage.tsdb.retention.time=1d",
                    "--web.listen-address=127.0.0.1:9090",
                    "--web.enable-lifecycle",
                ],
                PROMETHEUS_URL + "/-/ready",
                ["127.0.0.1:9090"],
            ),
        ]

    def _pidfile(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def _logfile(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def _running_pid(self, name: str) -> int | None:
        """Pid of the service this stack started, if that process still runs (not a reused pid)."""
        pidfile = self._pidfile(name)
        try:
            pid_s, exe = pidfile.read_text().split("\n", 1)
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            return None
        return pid if cmdline == exe.strip() else None

    def _render_alertmanager_config(self) -> None:
        src = (self.repo / "prometheus/alertmanager.yml").read_text()
        if DEFAULT_WEBHOOK_URL not in src:
            raise StackError(f"prometheus/alertmanager.yml no longer contains {DEFAULT_WEBHOOK_URL}")
        (self.state_dir / "alertmanager.yml").write_text(src.replace(DEFAULT_WEBHOOK_URL, self.webhook_url))

    # ------------------------------------------------------------------ lifecycle
    def is_up(self) -> bool:
        return all(
            self._running_pid(svc.name) and http_get(svc.health_url, timeout=2)[0] == 200 for svc in self.services()
        )

    def up(self) -> dict[str, str]:
        """Build what is missing, start every service that is not running, wait until healthy."""
        services = self.services()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started: list[Service] = []
        try:
            for svc in services:
                if self._running_pid(svc.name):
                    log(f"{svc.name}: already running (pid {self._running_pid(svc.name)})")
                    continue
                busy = [p for p in svc.ports if not port_free(p)]
                if busy:
                    raise StackError(
                        f"{svc.name}: port(s) {', '.join(busy)} already in use by a process this stack did "
                        "not start; stop it (or `stack/stack.sh down` in the checkout that started it)"
                    )
                if svc.name == "alertmanager":
                    shutil.rmtree(self.state_dir / "alertmanager-data", ignore_errors=True)
                    self._render_alertmanager_config()
                if svc.name == "prometheus":
                    shutil.rmtree(self.state_dir / "prometheus-data", ignore_errors=True)
                self._start(svc)
                started.append(svc)
            for svc in services:
                self._wait_healthy(svc)
        except BaseException:
            for svc in reversed(started):
                self._stop(svc.name)
            raise
        log("stack is up: " + ", ".join(f"{k}={v}" for k, v in self.urls.items()))
        return dict(self.urls)

    def _start(self, svc: Service) -> None:
        logf = self._logfile(svc.name).open("wb")
        env = {**os.environ, **svc.env}
        proc = subprocess.Popen(
            svc.argv,
            cwd=self.repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logf.close()
        self._pidfile(svc.name).write_text(f"{proc.pid}\n{svc.argv[0]}\n")
        log(f"{svc.name}: started pid {proc.pid}, log {self._logfile(svc.name)}")

    def _wait_healthy(self, svc: Service) -> None:
        def healthy() -> bool:
            if not self._running_pid(svc.name):
                raise StackError(f"{svc.name} exited; last log lines:\n{self.log_tail(svc.name)}")
            return http_get(svc.health_url, timeout=2)[0] == 200

        try:
            wait_until(healthy, self.start_timeout, 0.3, f"{svc.name} to be healthy ({svc.health_url})")
        except StackError as e:
            raise StackError(f"{e}\nlast log lines of {svc.name}:\n{self.log_tail(svc.name)}") from None

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self._logfile(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _stop(self, name: str, timeout: float = 15.0) -> None:
        pid = self._running_pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self._running_pid(name):
                time.sleep(0.1)
            if self._running_pid(name):
                log(f"{name}: did not stop within {timeout:.0f}s, killing pid {pid}")
                os.kill(pid, signal.SIGKILL)
            log(f"{name}: stopped pid {pid}")
        self._pidfile(name).unlink(missing_ok=True)

    def down(self) -> None:
        """Stop the services this stack started (pid files under the state dir), in reverse order."""
        for name in ("prometheus", "alertmanager", "collector", "jaeger"):
            self._stop(name)

    def status(self) -> bool:
        ok = True
        for svc in self.services():
            pid = self._running_pid(svc.name)
            code = http_get(svc.health_url, timeout=2)[0] if pid else 0
            state = "healthy" if code == 200 else ("running, unhealthy" if pid else "stopped")
            ok = ok and code == 200
            print(f"{svc.name:13s} {state:18s} pid={pid or '-':<8} {svc.health_url}")
        return ok

    # ------------------------------------------------------------------- queries
    def prom_query(self, expr: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Instant query; the result vector (raises on a query error)."""
        url = PROMETHEUS_URL + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        code, body = http_get(url, timeout=timeout)
        if code != 200:
            raise StackError(f"Prometheus query {expr!r} failed: HTTP {code} {body[:300]!r}")
        data = json.loads(body)
        if data.get("status") != "success":
            raise StackError(f"Prometheus query {expr!r} failed: {data}")
        return data["data"]["result"]

    def prom_value(self, expr: str) -> float | None:
        """Value of a query that yields at most one sample (None when empty)."""
        result = self.prom_query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise StackError(f"{expr!r} gave {len(result)} series, expected at most one")
        return float(result[0]["value"][1])

    def jaeger_trace(self, trace_id_hex: str) -> list[dict[str, Any]]:
        """Spans of one trace from Jaeger's HTTP API (empty list when not (yet) there)."""
        code, body = http_get(f"{JAEGER_URL}/api/traces/{trace_id_hex}", timeout=10)
        if code == 404:
            return []
        if code != 200:
            raise StackError(f"Jaeger /api/traces/{trace_id_hex}: HTTP {code} {body[:300]!r}")
        data = json.loads(body).get("data") or []
        return data[0]["spans"] if data else []


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL expr) of every panel target of every committed dashboard."""
    queries = []
    for path in sorted((REPO / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                queries.append((path.name, panel["title"], target["expr"]))
    return queries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Local observability stack of airflow-otel-listener")
    p.add_argument("command", choices=["build", "up", "down", "status", "urls"])
    p.add_argument("--webhook-url", help=f"Alertmanager webhook (default {DEFAULT_WEBHOOK_URL})")
    p.add_argument("--state-dir", help="logs/pids/data folder (default .stack/ in the repo)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each service")
    args = p.parse_args(argv)
    stack = Stack(
        state_dir=Path(args.state_dir) if args.state_dir else None,
        webhook_url=args.webhook_url,
        start_timeout=args.timeout,
    )
    try:
        if args.command == "build":
            for name, path in stack.build().items():
                print(f"{name}: {path}")
        elif args.command == "up":
            stack.up()
            stack.status()
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            return 0 if stack.status() else 1
        elif args.command == "urls":
            print(json.dumps(stack.urls, indent=2))
    except (StackError, subprocess.CalledProcessError) as e:
        log(f"ERROR: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

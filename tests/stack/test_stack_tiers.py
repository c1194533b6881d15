"""Agent/gateway tiers: exact counts also when the agent spreads the deltas over two gateways.

One agent (agent.yaml) and two gateways (gateway.yaml) run as real Collector processes on
their own loopback addresses (127.0.0.3-5), apart from the session stack. Task processes send to
the agent; its loadbalancing exporter routes metrics by stream id, so each series must be summed
whole by exactly one gateway, and the sum over both gateways' exporters must be exact.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stack.pystack import http_get, wait_until

REPO = Path(__file__).resolve().parents[2]
EMIT = Path(__file__).resolve().parent / "emit.py"
AGENT_IP = "127.0.0.3"
GATEWAY_IPS = ["127.0.0.4", "127.0.0.5"]
PROCESSES = 24


def collector_env(ip: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTELCOL_") and not k.startswith("OTEL_")}
    env.update(
        OTELCOL_HEALTH_ENDPOINT=f"{ip}:13133",
        OTELCOL_TELEMETRY_HOST=ip,
        OTELCOL_TELEMETRY_PORT="8888",
        OTELCOL_PROMETHEUS_ENDPOINT=f"{ip}:8889",
        # nothing listens there: traces are not what this test checks
        OTELCOL_JAEGER_OTLP_ENDPOINT=f"{ip}:14317",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def tiers(stack_binaries: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    logs = tmp_path_factory.mktemp("tiers")
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    specs = [
        (
            f"gateway-{ip}",
            "gateway.yaml",
            collector_env(ip, OTELCOL_GATEWAY_GRPC_ENDPOINT=f"{ip}:24317", OTELCOL_GATEWAY_HTTP_ENDPOINT=f"{ip}:24318"),
            f"http://{ip}:13133/",
        )
        for ip in GATEWAY_IPS
    ]
    specs.append(
        (
            "agent",
            "agent.yaml",
            collector_env(
                AGENT_IP,
                OTELCOL_AGENT_HEALTH_ENDPOINT=f"{AGENT_IP}:13134",
                OTELCOL_OTLP_GRPC_ENDPOINT=f"{AGENT_IP}:4317",
                OTELCOL_OTLP_HTTP_ENDPOINT=f"{AGENT_IP}:4318",
                OTELCOL_GATEWAYS="[" + ", ".join(f"{ip}:24317" for ip in GATEWAY_IPS) + "]",
            ),
            f"http://{AGENT_IP}:13134/",
        )
    )
    try:
        for name, config, env, health in specs:
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [stack_binaries["collector"], "--config", str(REPO / "collector-config" / config)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            procs.append((name, proc, log))

            def healthy(proc: subprocess.Popen[bytes] = proc, health: str = health, log: Path = log) -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"{log.name} exited: {log.read_text()[-3000:]}")
                return http_get(health, timeout=2)[0] == 200

            wait_until(healthy, 60, 0.3, f"{name} healthy")
        yield
    finally:
        for _, proc, _ in procs:
            proc.terminate()
        for _, proc, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def gateway_values(metric: str, dag_id: str) -> dict[str, dict[str, float]]:
    """{gateway ip: {series labels: value}} of one metric, scraped from both gateways' exporters."""
    out: dict[str, dict[str, float]] = {}
    for ip in GATEWAY_IPS:
        code, body = http_get(f"http://{ip}:8889/metrics", timeout=5)
        assert code == 200
        out[ip] = {}
        for line in body.decode().splitlines():
            if line.startswith(metric + "{") and f'dag_id="{dag_id}"' in line:
                labels, value = line.rsplit(" ", 1)
                out[ip][labels] = float(value)
    return out


def test_agent_to_two_gateways_counts_exactly(tiers: None) -> None:
    rng = random.Random(7)
    dag_ids = [f"tier_{uuid.uuid4().hex[:8]}_{i}" for i in range(4)]
    jobs = [(dag_ids[i % len(dag_ids)], f"{rng.uniform(0, 1.0):.3f}") for i in range(PROCESSES)]

    def one(job: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        dag_id, delay = job
        argv = [sys.executable, str(EMIT), "--endpoint", f"http://{AGENT_IP}:4318/v1/metrics"]
        argv += ["--dag-id", dag_id, "--delay", delay]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, jobs))
    assert all(r.returncode == 0 for r in results), [r.stderr[-500:] for r in results if r.returncode]

    expected = {d: sum(1 for j in jobs if j[0] == d) for d in dag_ids}

    def totals(metric: str) -> dict[str, float]:
        return {d: sum(v for per_gw in gateway_values(metric, d).values() for v in per_gw.values()) for d in dag_ids}

    # Counter and histogram points may reach the gateways in different batches: wait for both.
    for metric in ("airflow_task_outcomes_total", "airflow_task_duration_seconds_count"):
        try:
            wait_until(lambda m=metric: totals(m) == expected, 60, 0.5, f"exact {metric} over both gateways")
        except Exception:
            pytest.fail(f"{metric}: totals {totals(metric)} != expected {expected}")
    used = set()
    for d in dag_ids:
        per_gateway = gateway_values("airflow_task_outcomes_total", d)
        holders = [ip for ip, series in per_gateway.items() if series]
        assert len(holders) == 1, f"{d}: a stream is split over gateways {per_gateway}"
        used |= set(holders)
    # with 4 streams the ring very likely uses both gateways; not required for exactness
    assert used

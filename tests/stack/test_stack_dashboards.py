"""The committed dashboards are exactly what grafana/generate.py makes, and use real metric names."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from stack.pystack import dashboard_queries

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "grafana/dashboards"

# Metric names the pipeline produces (docs/telemetry-contract.md, as the Collector's prometheus
# exporter writes them), the Collector's own telemetry and the spanmetrics connector's output.
CONTRACT_METRICS = {
    "airflow_task_outcomes_total",
    "airflow_task_duration_seconds",
    "airflow_task_scheduling_delay_seconds",
    "airflow_task_running",
    "airflow_dag_run_outcomes_total",
    "airflow_dag_run_duration_seconds",
    "airflow_dag_run_scheduling_delay_seconds",
    "otel_listener_events_total",
    "otel_listener_events_dropped_total",
    "otel_listener_sink_errors_total",
    "otel_listener_hook_errors_total",
    "otel_listener_flush_duration_seconds",
}
OTHER_METRICS = {"otelcol_deltatocumulative_datapoints", "traces_span_metrics_calls_total", "up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "topk", "offset", "or", "unless", "and",
    "vector", "le", "without", "on", "group_left", "max", "min", "avg", "count",
}  # fmt: skip


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grafana_generate", REPO / "grafana/generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panel_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel target of every committed dashboard."""
    yield from dashboard_queries()


def recording_rule_names() -> set[str]:
    names = set()
    for path in (REPO / "prometheus/rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\b\d+(\.\d+)?[smhdwy]?\b", "", expr)  # numbers, durations
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
    return tokens - PROMQL_WORDS


def test_generated_dashboards_equal_committed() -> None:
    gen = load_generator()
    rendered = dict(gen.render())
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert set(rendered) == set(committed), "dashboard files differ: run grafana/generate.py"
    for name, text in rendered.items():
        assert text == committed[name], f"{name} is stale: run .venv/bin/python grafana/generate.py"


def test_dashboards_use_only_metrics_the_pipeline_produces() -> None:
    known = CONTRACT_METRICS | OTHER_METRICS | recording_rule_names()
    for name, title, expr in panel_queries():
        for metric in metric_names(expr):
            base = metric
            for suffix in HISTOGRAM_SUFFIXES:
                if metric.endswith(suffix) and metric[: -len(suffix)] in known:
                    base = metric[: -len(suffix)]
            assert base in known, f"{name} / {title}: unknown metric {metric!r} in {expr}"


def test_expected_dashboards_and_dag_variable() -> None:
    boards: dict[str, Any] = {p.name: json.loads(p.read_text()) for p in DASHBOARDS.glob("*.json")}
    assert set(boards) == {
        "airflow-overview.json",
        "airflow-dag-detail.json",
        "airflow-otel-listener-health.json",
    }
    detail = boards["airflow-dag-detail.json"]
    assert [v["name"] for v in detail["templating"]["list"]] == ["dag_id"]
    assert any("16686" in link["url"] and "${dag_id}" in link["url"] for link in detail["links"])
    for board in boards.values():
        for panel in board["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == "prometheus", panel["title"]

"""Generate the Grafana dashboards of airflow-otel-listener as code.

    .venv/bin/python grafana/generate.py          # writes grafana/dashboards/*.json
    .venv/bin/python grafana/generate.py --check  # exit 1 if the committed JSON differs

Built with grafana-foundation-sdk (pinned ``1769699379!11.6.0``, the Grafana 11.6 build).
Every panel queries Prometheus (datasource uid ``prometheus``, provisioned by
grafana/provisioning/datasources/) for metrics the stack really produces: the names of
docs/telemetry-contract.md as the Collector's prometheus exporter writes them, the recording
rules of prometheus/rules/, and the Collector's own telemetry. tests/stack checks that every
panel query returns data from a real Prometheus fed by the real Collector.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
PROM = DataSourceRef(type_val="prometheus", uid="prometheus")
# Where Grafana's users open Jaeger's UI (docker-compose.yml publishes it there).
JAEGER_UI = "http://localhost:16686"
TAGS = ["airflow", "airflow-otel-listener"]


def window_count(selector: str, window: str, by: str, zero: bool = False) -> str:
    """Exact number of increments of a counter over ``window``.

    A series is created at its first increment, so increase() would miss that one: take the
    difference for series that existed ``window`` ago and the whole value for newer ones.
    ``zero`` shows 0 instead of "No data" while the counter has no series yet (no failure so far).
    """
    expr = (
        f"sum by ({by}) (({selector} - {selector} offset {window}) or ({selector} unless {selector} offset {window}))"
    )
    return expr + " or vector(0)" if zero else expr


def q(expr: str, legend: str = "__auto", instant: bool = False, ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(PROM)
    return query.instant() if instant else query.range()


def ts(title: str, unit: str, *queries: prometheus.Dataquery, desc: str = "", w: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(PROM).height(8).span(w)
    if desc:
        panel = panel.description(desc)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def st(title: str, unit: str, query: prometheus.Dataquery, desc: str = "", w: int = 6) -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(PROM).height(4).span(w).with_target(query)
    return panel.description(desc) if desc else panel


def top(title: str, query: prometheus.Dataquery, desc: str = "", w: int = 12) -> bargauge.Panel:
    panel = bargauge.Panel().title(title).unit("short").datasource(PROM).height(8).span(w).with_target(query)
    return panel.description(desc) if desc else panel


def quantiles(metric: str, by: str, matchers: str = "", window: str = "15m") -> list[prometheus.Dataquery]:
    sel = f"{metric}_bucket{{{matchers}}}" if matchers else f"{metric}_bucket"
    grouping = f"{by}, le" if by else "le"
    label = "{{" + by + "}} " if by else ""
    return [
        q(
            f"histogram_quantile({p}, sum by ({grouping}) (rate({sel}[{window}])))",
            f"{label}p{int(p * 100)}",
            ref=ref,
        )
        for p, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
    ]


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
    )


def overview() -> dashboard.Dashboard:
    d = base(
        "airflow-overview",
        "Airflow overview",
        "Outcomes, failures, durations, retries and scheduling delay of all DAGs (airflow-otel-listener).",
    )
    d = d.with_row(dashboard.Row("Runs"))
    d = d.with_panel(
        st(
            "DAG runs succeeded (24h)",
            "short",
            q(
                window_count('airflow_dag_run_outcomes_total{outcome="success"}', "24h", "outcome", zero=True),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st(
            "DAG runs failed (24h)",
            "short",
            q(
                window_count('airflow_dag_run_outcomes_total{outcome="failed"}', "24h", "outcome", zero=True),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st(
            "Task tries failed or retried (24h)",
            "short",
            q(
                window_count('airflow_task_outcomes_total{outcome=~"failed|retry"}', "24h", "job", zero=True),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st("Tasks running now", "short", q("sum(airflow_task_running)", instant=True), "Sum over all DAGs.")
    )
    d = d.with_panel(
        ts(
            "DAG run outcomes / min",
            "short",
            q("60 * sum by (outcome) (dag_id_outcome:airflow_dag_run_outcomes:rate5m)", "{{outcome}}"),
        )
    )
    d = d.with_panel(
        ts(
            "Task try outcomes / min",
            "short",
            q("60 * sum by (outcome) (dag_id_task_id_outcome:airflow_task_outcomes:rate5m)", "{{outcome}}"),
        )
    )
    d = d.with_row(dashboard.Row("Failures"))
    d = d.with_panel(
        top(
            "Top 10 failing DAGs (failed runs, 1h)",
            q("topk(10, dag_id:airflow_dag_run_failures:count1h > 0)", "{{dag_id}}", instant=True),
        )
    )
    d = d.with_panel(
        top(
            "Top 10 failing tasks (failed or retried tries, 1h)",
            q(
                "topk(10, dag_id_task_id:airflow_task_failed_tries:count1h > 0)",
                "{{dag_id}}.{{task_id}}",
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Retries / min by task",
            "short",
            q(
                '60 * sum by (dag_id, task_id) (rate(airflow_task_outcomes_total{outcome="retry"}[15m]))',
                "{{dag_id}}.{{task_id}}",
            ),
            w=24,
        )
    )
    d = d.with_row(dashboard.Row("Durations and delays"))
    d = d.with_panel(ts("Task try duration (all tasks)", "s", *quantiles("airflow_task_duration_seconds", "")))
    d = d.with_panel(
        ts(
            "DAG run duration p95 by DAG",
            "s",
            q(
                "histogram_quantile(0.95, sum by (dag_id, le) (rate(airflow_dag_run_duration_seconds_bucket[1h])))",
                "{{dag_id}}",
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Task scheduling delay p95 (queued -> running)",
            "s",
            q("dag_id:airflow_task_scheduling_delay_seconds:p95_15m", "{{dag_id}}"),
        )
    )
    d = d.with_panel(
        ts(
            "DAG run scheduling delay p95 (queued -> running)",
            "s",
            q("dag_id:airflow_dag_run_scheduling_delay_seconds:p95_15m", "{{dag_id}}"),
        )
    )
    return d


def dag_detail() -> dashboard.Dashboard:
    d = base(
        "airflow-dag-detail",
        "Airflow DAG detail",
        "One DAG: per-task outcomes and durations, run durations, scheduling delay, and its traces in Jaeger.",
    )
    d = d.with_variable(
        dashboard.QueryVariable("dag_id")
        .label("DAG")
        .datasource(PROM)
        .query("label_values(airflow_task_outcomes_total, dag_id)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    d = d.link(
        dashboard.DashboardLink("Traces of $dag_id in Jaeger")
        .type(DashboardLinkType.LINK)
        .url(JAEGER_UI + "/search?service=airflow&operation=dag_run%20${dag_id}&limit=50")
        .icon("external link")
        .tooltip("DAG-run traces (one per run attempt) in the Jaeger UI")
        .target_blank(True)
    )
    d = d.link(
        dashboard.DashboardLink("Failed runs of $dag_id in Jaeger")
        .type(DashboardLinkType.LINK)
        .url(JAEGER_UI + "/search?service=airflow&operation=dag_run%20${dag_id}&tags=%7B%22error%22%3A%22true%22%7D")
        .icon("external link")
        .target_blank(True)
    )
    d = d.with_panel(
        st(
            "Runs succeeded (24h)",
            "short",
            q(
                window_count(
                    'airflow_dag_run_outcomes_total{dag_id="$dag_id",outcome="success"}', "24h", "dag_id", zero=True
                ),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st(
            "Runs failed (24h)",
            "short",
            q(
                window_count(
                    'airflow_dag_run_outcomes_total{dag_id="$dag_id",outcome="failed"}', "24h", "dag_id", zero=True
                ),
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st(
            "Mean run duration (30m)",
            "s",
            q(
                'sum(rate(airflow_dag_run_duration_seconds_sum{dag_id="$dag_id"}[30m]))'
                ' / sum(rate(airflow_dag_run_duration_seconds_count{dag_id="$dag_id"}[30m]))',
                instant=True,
            ),
        )
    )
    d = d.with_panel(
        st(
            "Tasks running now",
            "short",
            q('sum(airflow_task_running{dag_id="$dag_id"})', instant=True),
        )
    )
    d = d.with_panel(
        table.Panel()
        .title("Task try outcomes (24h)")
        .description("Exact counts per task and outcome over the last 24 hours.")
        .datasource(PROM)
        .height(8)
        .span(12)
        .with_target(
            q(
                window_count('airflow_task_outcomes_total{dag_id="$dag_id"}', "24h", "task_id, outcome"),
                instant=True,
            ).format(PromQueryFormat.TABLE)
        )
    )
    d = d.with_panel(
        ts(
            "Task try outcomes / min",
            "short",
            q(
                '60 * sum by (task_id, outcome) (rate(airflow_task_outcomes_total{dag_id="$dag_id"}[5m]))',
                "{{task_id}} {{outcome}}",
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Task duration p95 by task",
            "s",
            q(
                "histogram_quantile(0.95, sum by (task_id, le)"
                ' (rate(airflow_task_duration_seconds_bucket{dag_id="$dag_id"}[15m])))',
                "{{task_id}}",
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Task mean duration by task and outcome",
            "s",
            q(
                'sum by (task_id, outcome) (rate(airflow_task_duration_seconds_sum{dag_id="$dag_id"}[15m]))'
                ' / sum by (task_id, outcome) (rate(airflow_task_duration_seconds_count{dag_id="$dag_id"}[15m]))',
                "{{task_id}} {{outcome}}",
            ),
        )
    )
    d = d.with_panel(
        ts("DAG run duration", "s", *quantiles("airflow_dag_run_duration_seconds", "", 'dag_id="$dag_id"', "1h"))
    )
    d = d.with_panel(
        ts(
            "Task scheduling delay p95 by task",
            "s",
            q(
                "histogram_quantile(0.95, sum by (task_id, le)"
                ' (rate(airflow_task_scheduling_delay_seconds_bucket{dag_id="$dag_id"}[15m])))',
                "{{task_id}}",
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Spans / min by name (from traces, spanmetrics)",
            "short",
            q(
                '60 * sum by (span_name) (rate(traces_span_metrics_calls_total{airflow_dag_id="$dag_id"}[5m]))',
                "{{span_name}}",
            ),
            desc="Computed by the Collector's spanmetrics connector from the DAG-run and task spans.",
            w=24,
        )
    )
    return d


def listener_health() -> dashboard.Dashboard:
    d = base(
        "airflow-otel-listener-health",
        "airflow-otel-listener health",
        "The listener plugin (events, drops, errors, flush time) and the Collector's delta re-aggregation.",
    )
    d = d.with_panel(
        st(
            "Events dropped (24h)",
            "short",
            q(window_count("otel_listener_events_dropped_total", "24h", "job", zero=True), instant=True),
        )
    )
    d = d.with_panel(
        st(
            "Sink errors (24h)",
            "short",
            q(window_count("otel_listener_sink_errors_total", "24h", "job", zero=True), instant=True),
        )
    )
    d = d.with_panel(
        st(
            "Hook errors (24h)",
            "short",
            q(window_count("otel_listener_hook_errors_total", "24h", "job", zero=True), instant=True),
        )
    )
    d = d.with_panel(
        st(
            "Delta points rejected by the Collector (24h)",
            "short",
            q('sum(increase(otelcol_deltatocumulative_datapoints{error!=""}[24h])) or vector(0)', instant=True),
            desc="Must stay 0: a rejected delta point is a count missing from Prometheus.",
        )
    )
    d = d.with_panel(
        ts(
            "Listener events / min by event",
            "short",
            q("60 * sum by (event) (rate(otel_listener_events_total[5m]))", "{{event}}"),
        )
    )
    d = d.with_panel(
        ts(
            "Dropped events / min by reason",
            "short",
            q("60 * sum by (reason) (rate(otel_listener_events_dropped_total[5m])) or vector(0)", "{{reason}}"),
        )
    )
    d = d.with_panel(
        ts(
            "Errors / min",
            "short",
            q("60 * sum by (sink) (rate(otel_listener_sink_errors_total[5m])) or vector(0)", "sink {{sink}}"),
            q("60 * sum by (hook) (rate(otel_listener_hook_errors_total[5m])) or vector(0)", "hook {{hook}}", ref="B"),
        )
    )
    d = d.with_panel(
        ts(
            "Flush duration by outcome",
            "s",
            q(
                "histogram_quantile(0.5, sum by (outcome, le)"
                " (rate(otel_listener_flush_duration_seconds_bucket[15m])))",
                "{{outcome}} p50",
            ),
            q(
                "histogram_quantile(0.99, sum by (outcome, le)"
                " (rate(otel_listener_flush_duration_seconds_bucket[15m])))",
                "{{outcome}} p99",
                ref="B",
            ),
        )
    )
    d = d.with_panel(
        ts(
            "Collector: delta points re-aggregated / s",
            "short",
            q('sum by (error) (rate(otelcol_deltatocumulative_datapoints{job="otel-collector"}[5m]))', "{{error}}"),
            desc="Data points summed into cumulative series; an `error` series means points were rejected.",
        )
    )
    d = d.with_panel(
        ts(
            "Scrape targets up",
            "short",
            q('up{job=~"otel-collector|airflow-otel-collector"}', "{{job}}"),
        )
    )
    return d


DASHBOARDS = {
    "airflow-overview.json": overview,
    "airflow-dag-detail.json": dag_detail,
    "airflow-otel-listener-health.json": listener_health,
}


def render() -> Iterator[tuple[str, str]]:
    for name, make in DASHBOARDS.items():
        yield name, json.dumps(make().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    stale = []
    for name, text in render():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run grafana/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

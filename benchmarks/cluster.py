"""Task-process overhead under a real Airflow cluster (scheduler + dag-processor + api-server,
LocalExecutor, SQLite), configurations interleaved in one session.

Headline: CPU consumed per task by the scheduler's process tree (LocalExecutor workers,
supervisors and task processes included), read from /proc before the trigger and after the
last task process exited. Beside it: how long each task process lingered after its TI end
date (exit seen through a pidfd from outside), the task process lifetime and the run's wall
time. CPU used on the machine by anything else during a run is measured too; a run with too
much of it is re-run once and flagged.
"""

from __future__ import annotations

import os
import selectors
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fault_servers import closed_port
from micro import NullCollector

from otel_listener.testing.cluster import AirflowHome, Cluster

BENCH = Path(__file__).resolve().parent
DAG_ID = "bench_many_short"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FOREIGN_LIMIT_CORES = 0.25  # more foreign load than this (average over the run) marks a run disturbed

QUIET_DAG_PROCESSOR = {  # parse once at start-up, then stay idle: its re-parsing is not what we measure
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
}
OURS_OFF = {"AIRFLOW__OTEL_LISTENER__ENABLED": "false"}
OL_OFF = {"AIRFLOW__OPENLINEAGE__DISABLED": "true"}


@dataclass
class Config:
    name: str
    label: str
    env: dict[str, str]
    note: str = ""


def configurations(collector_http: str, lineage_url: str, lineage_available: bool) -> list[Config]:
    dead = f"http://127.0.0.1:{closed_port()}"
    ours_lineage = (
        {"AIRFLOW__OTEL_LISTENER__LINEAGE_ENABLED": "true", "OPENLINEAGE_URL": lineage_url} if lineage_available else {}
    )
    note = "traces+metrics+lineage" if lineage_available else "traces+metrics (lineage not available in this tree)"
    return [
        Config("baseline", "no listener", {**OURS_OFF, **OL_OFF}),
        Config(
            "ours_live",
            "otel_listener -> live Collector",
            {"OTEL_EXPORTER_OTLP_ENDPOINT": collector_http, **ours_lineage, **OL_OFF},
            note,
        ),
        Config(
            "ours_no_lineage",
            "otel_listener -> live Collector",
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector_http,
                "AIRFLOW__OTEL_LISTENER__LINEAGE_ENABLED": "false",
                **OL_OFF,
            },
            "traces+metrics only",
        ),
        Config(
            "ours_dead",
            "otel_listener, collector down",
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": dead,
                **({**ours_lineage, "OPENLINEAGE_URL": dead} if lineage_available else {}),
                **OL_OFF,
            },
            note,
        ),
        Config(
            "native_otel",
            "Airflow native OTel traces+metrics",
            {
                **OURS_OFF,
                **OL_OFF,
                "AIRFLOW__TRACES__OTEL_ON": "True",
                "AIRFLOW__METRICS__OTEL_ON": "True",
                # gRPC: Airflow's task-side exporter picks gRPC whatever the protocol variable says
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
        ),
        Config(
            "openlineage",
            "OpenLineage provider (HTTP transport)",
            {
                **OURS_OFF,
                "AIRFLOW__OPENLINEAGE__DISABLED": "false",
                "AIRFLOW__OPENLINEAGE__NAMESPACE": "bench",
                "AIRFLOW__OPENLINEAGE__TRANSPORT": (
                    '{"type": "http", "url": "' + lineage_url + '", "endpoint": "api/v1/lineage"}'
                ),
            },
        ),
    ]


# -- /proc accounting ----------------------------------------------------------------------
def proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, CPU ticks of the process plus its reaped descendants)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return table


def tree_ticks(table: dict[int, tuple[int, int]], root: int) -> int:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo.extend(children.get(pid, ()))
    return total


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def self_ticks() -> float:
    t = os.times()
    return (t.user + t.system + t.children_user + t.children_system) * CLK_TCK


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime"):
                return float(line.split()[1])
    return 0.0


class ExitWatcher:
    """Sees each announced task process exit, from outside, through a pidfd."""

    def __init__(self, pid_dir: Path) -> None:
        self.pid_dir = pid_dir
        self.started: dict[str, float] = {}
        self.exited: dict[str, float] = {}
        self._stop = threading.Event()
        self._boot = _boot_time()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ExitWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        seen: set[str] = set()
        while not self._stop.is_set():
            for entry in os.scandir(self.pid_dir):
                name = entry.name.removesuffix(".pid")
                if name in seen:
                    continue
                try:
                    pid = int(Path(entry.path).read_text() or "0")
                    fd = os.pidfd_open(pid)
                except (ValueError, OSError):
                    continue  # not written completely yet, or already gone
                seen.add(name)
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        data = f.read()
                    ticks = int(data[data.rindex(")") + 2 :].split()[19])
                    self.started[name] = self._boot + ticks / CLK_TCK
                except (OSError, ValueError, IndexError):
                    pass
                selector.register(fd, selectors.EVENT_READ, name)
            for key, _ in selector.select(timeout=0.005):
                self.exited[key.data] = time.time()
                selector.unregister(key.fd)
                os.close(key.fd)
        selector.close()

    def pending(self) -> int:
        return len(set(self.started) - set(self.exited))


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class RunResult:
    config: str
    rep: int
    state: str
    tasks: int
    cpu_ms_per_task: float
    api_cpu_ms_per_task: float
    linger_ms_median: float | None
    linger_ms_p90: float | None
    process_s_median: float | None
    wall_s: float
    foreign_cores: float
    disturbed: bool
    lineage_requests: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_once(
    home: AirflowHome, cfg: Config, rep: int, sizes: dict[str, str], known_pids: list[int], lineage: NullCollector
) -> RunResult:
    pid_dir = Path(tempfile.mkdtemp(prefix="bench-pids-"))
    env = {**QUIET_DAG_PROCESSOR, **sizes, **cfg.env, "BENCH_PID_DIR": str(pid_dir)}
    cluster = Cluster(home, env_overrides=env)
    cluster.start(timeout=180)
    try:
        cluster.wait_for_dag(DAG_ID, timeout=180)
        time.sleep(3)  # let start-up work settle
        watcher = ExitWatcher(pid_dir).start()
        lineage_before = lineage.requests
        sched, api = cluster.processes["scheduler"].pid, cluster.processes["api-server"].pid
        dagp = cluster.processes["dag-processor"].pid
        table0, busy0, self0, t0 = proc_table(), machine_busy_ticks(), self_ticks(), time.monotonic()
        run_id = cluster.trigger(DAG_ID)
        state = cluster.wait_for_run(DAG_ID, run_id, timeout=900)
        deadline = time.monotonic() + 60
        while watcher.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        table1, busy1, self1, t1 = proc_table(), machine_busy_ticks(), self_ticks(), time.monotonic()
        watcher.stop()
        rows = home.query("SELECT task_id, state, end_date FROM task_instance WHERE run_id = ?", run_id)
    finally:
        cluster.stop()
    ticks = {
        name: tree_ticks(table1, pid) - tree_ticks(table0, pid) for name, pid in (("s", sched), ("a", api), ("d", dagp))
    }
    others = sum(tree_ticks(table1, p) - tree_ticks(table0, p) for p in known_pids)
    foreign_ticks = (busy1 - busy0) - sum(ticks.values()) - (self1 - self0) - others
    wall = t1 - t0
    lingers, lifetimes = [], []
    for task_id, _state, end in rows:
        end_dt = _utc(end)
        if end_dt and task_id in watcher.exited:
            lingers.append((watcher.exited[task_id] - end_dt.timestamp()) * 1000)
        if task_id in watcher.exited and task_id in watcher.started:
            lifetimes.append(watcher.exited[task_id] - watcher.started[task_id])
    n = len(rows)
    foreign = max(0.0, foreign_ticks / CLK_TCK / wall)
    shutil.rmtree(pid_dir, ignore_errors=True)
    return RunResult(
        config=cfg.name,
        rep=rep,
        state=state,
        tasks=n,
        cpu_ms_per_task=round(ticks["s"] / CLK_TCK * 1000 / n, 1),
        api_cpu_ms_per_task=round(ticks["a"] / CLK_TCK * 1000 / n, 1),
        linger_ms_median=round(statistics.median(lingers), 1) if lingers else None,
        linger_ms_p90=round(sorted(lingers)[int(len(lingers) * 0.9)], 1) if lingers else None,
        process_s_median=round(statistics.median(lifetimes), 3) if lifetimes else None,
        wall_s=round(wall, 2),
        foreign_cores=round(foreign, 2),
        disturbed=foreign > FOREIGN_LIMIT_CORES,
        lineage_requests=lineage.requests - lineage_before,
        extra={"lingers_seen": len(lingers), "dag_processor_cpu_ms": round(ticks["d"] / CLK_TCK * 1000, 1)},
    )


def summarize(results: list[RunResult], configs: list[Config]) -> list[dict[str, Any]]:
    def stats(values: list[float]) -> dict[str, float] | None:
        values = [v for v in values if v is not None]
        if not values:
            return None
        return {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}

    by = {c.name: [r for r in results if r.config == c.name and r.state == "success"] for c in configs}
    base = by.get("baseline") or []
    base_cpu = statistics.median([r.cpu_ms_per_task for r in base]) if base else None
    base_linger = statistics.median([r.linger_ms_median for r in base if r.linger_ms_median is not None] or [0])
    rows = []
    for cfg in configs:
        runs = by[cfg.name]
        cpu = stats([r.cpu_ms_per_task for r in runs])
        linger = stats([r.linger_ms_median for r in runs])
        rows.append(
            {
                "config": cfg.name,
                "label": cfg.label,
                "note": cfg.note,
                "runs": len(runs),
                "disturbed_runs": sum(r.disturbed for r in runs),
                "cpu_ms_per_task": cpu,
                "cpu_ratio": {k: round(v / base_cpu, 3) for k, v in cpu.items()} if cpu and base_cpu else None,
                "api_server_cpu_ms_per_task": stats([r.api_cpu_ms_per_task for r in runs]),
                "linger_ms": linger,
                "linger_delta_ms_median": round(linger["median"] - base_linger, 1) if linger else None,
                "task_process_s": stats([r.process_s_median for r in runs]),
                "wall_s": stats([r.wall_s for r in runs]),
                "lineage_requests": [r.lineage_requests for r in runs],
            }
        )
    return rows

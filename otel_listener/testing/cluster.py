"""Run real Airflow 3 for tests and demos: a temporary home, ``dags test``, or a cluster.

The cluster is what production runs: scheduler, dag-processor and api-server processes with
the LocalExecutor on SQLite, all on loopback. Everything is bounded: start-up, waits for runs,
and shutdown (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

FINISHED_RUN_STATES = ("success", "failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_bin() -> str:
    """The ``airflow`` executable of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


@dataclass
class AirflowHome:
    """A fresh ``AIRFLOW_HOME`` with its own SQLite database and environment."""

    path: Path
    dags_folder: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)

    @property
    def db_path(self) -> Path:
        return self.path / "airflow.db"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "OTEL_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.path),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret(),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _jwt_secret(self) -> str:
        secret_file = self.path / ".jwt_secret"
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(48))
        return secret_file.read_text()

    def airflow(
        self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run one ``airflow`` CLI command in this home; output captured, bounded by ``timeout``."""
        return subprocess.run(
            [airflow_bin(), *args],
            env=dict(env) if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        result = self.airflow("db", "migrate")
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the metadata database directly (read-only use)."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as conn:
            return list(conn.execute(sql, params))


@dataclass
class Cluster:
    """scheduler + dag-processor + api-server processes for one :class:`AirflowHome`."""

    home: AirflowHome
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, timeout: float = 120) -> Cluster:
        for name in ("api-server", "dag-processor", "scheduler"):
            self._spawn(name)
        self._wait_healthy(timeout)
        return self

    def _spawn(self, name: str) -> None:
        logs = self.home.path / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        args = {
            "api-server": ["api-server", "--port", str(self.home.api_port), "--host", "127.0.0.1"],
            "dag-processor": ["dag-processor"],
            "scheduler": ["scheduler"],
        }[name]
        with open(logs / f"{name}.out", "ab") as out:  # the child keeps its own copy of the descriptor
            self.processes[name] = subprocess.Popen(
                [airflow_bin(), *args],
                env=self.home.env(**self.env_overrides),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def restart(self, name: str, timeout: float = 60) -> None:
        """Stop one component as an operator would (SIGTERM to its main process; SIGKILL to its
        process group after ``timeout``) and start it again with the same environment."""
        proc = self.processes[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self._spawn(name)

    def _wait_healthy(self, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.home.api_port}/api/v2/monitor/health"
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited early with {proc.returncode}: see {self.home.path}/logs/{name}.out"
                    )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"api-server not healthy within {timeout}s")

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Until the dag-processor has serialized ``dag_id``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.home.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id):
                    return
            except sqlite3.Error:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"DAG {dag_id} not parsed within {timeout}s")

    def trigger(self, dag_id: str, conf: str | None = None, run_id: str | None = None) -> str:
        args = ["dags", "trigger", dag_id, "--output", "json"]
        if conf:
            args += ["--conf", conf]
        if run_id:
            args += ["--run-id", run_id]
        result = self.home.airflow(*args, env=self.home.env(**self.env_overrides))
        if result.returncode != 0:
            raise RuntimeError(f"trigger failed: {result.stdout[-2000:]} {result.stderr[-2000:]}")
        rows = self.home.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", dag_id)
        return rows[0][0]

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the public REST API (``/api/v2/...``); needs ``[core] simple_auth_manager_all_admins``."""
        import json
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.home.api_port}/api/v2/{path.lstrip('/')}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def clear(self, dag_id: str, run_id: str, *task_ids: str) -> None:
        """Clear task instances of a run the way the UI and REST API do (the run's clear_number grows)."""
        script = (
            "import sys\n"
            "from airflow.models.taskinstance import TaskInstance, clear_task_instances\n"
            "from airflow.utils.session import create_session\n"
            "dag_id, run_id, *task_ids = sys.argv[1:]\n"
            "with create_session() as session:\n"
            "    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,"
            " TaskInstance.run_id == run_id, TaskInstance.task_id.in_(task_ids)).all()\n"
            "    assert tis, 'nothing to clear'\n"
            "    clear_task_instances(tis, session)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script, dag_id, run_id, *task_ids],
            env=self.home.env(**self.env_overrides),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"clear failed: {result.stderr[-2000:]}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        """Until the run is finished; returns its state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.home.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
            if rows and rows[0][0] in FINISHED_RUN_STATES:
                return rows[0][0]
            time.sleep(0.5)
        raise TimeoutError(f"run {dag_id}/{run_id} not finished within {timeout}s")

    def stop(self, timeout: float = 30) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        self.processes.clear()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_cluster(
    dags_folder: Path, env: Mapping[str, str], dag_ids: Iterable[str] = (), prefix: str = "otel-cluster-"
) -> Iterator[Cluster]:
    """A fresh home in a temporary folder, migrated, a started cluster, ``dag_ids`` parsed; stopped after."""
    home = AirflowHome(Path(tempfile.mkdtemp(prefix=prefix)), dags_folder, extra_env=env)
    home.migrate()
    with Cluster(home) as cluster:
        for dag_id in dag_ids:
            cluster.wait_for_dag(dag_id)
        yield cluster

"""``otel-listener lineage replay``: a real HTTP endpoint, the standard OPENLINEAGE_URL, progress output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lineage_support import LineageBackend, assert_valid

from otel_listener.events import EventKind, RunRef, TaskEvent
from otel_listener.lineage import build
from otel_listener.lineage.spool import Spool

CLI = str(Path(sys.executable).with_name("otel-listener"))


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_the_commands():
    result = _run("--help", env=dict(os.environ))
    assert result.returncode == 0 and "lineage" in result.stdout
    result = _run("lineage", "--help", env=dict(os.environ))
    assert "replay" in result.stdout and "status" in result.stdout


def test_replay_sends_in_order_deletes_and_fails_cleanly_when_the_backend_is_down(tmp_path):
    spool = Spool(tmp_path / "spool", 10**8)
    sent = []
    for i in range(4):
        for kind in (EventKind.TASK_RUNNING, EventKind.TASK_SUCCESS):
            (event,) = build.run_events(TaskEvent(kind=kind, run=RunRef("d", f"r{i}"), task_id="t", try_number=1), "ns")
            spool.add(event)
            sent.append(event)
    backend = LineageBackend().start()
    url = backend.url
    backend.stop()
    env = {**os.environ, "OPENLINEAGE_URL": url, "OPENLINEAGE__TRANSPORT__RETRY": '{"total": 0}'}
    env.pop("OPENLINEAGE_CONFIG", None)
    down = _run("lineage", "replay", "--spool-dir", str(spool.folder), "--timeout", "30", env=env)
    assert down.returncode == 1 and "first failure" in down.stderr
    assert len(spool.entries()) == 8
    status = _run("lineage", "status", "--spool-dir", str(spool.folder), env=env)
    assert "events waiting: 8" in status.stdout

    backend.port = int(url.rsplit(":", 1)[1])
    backend.start()
    try:
        up = _run("lineage", "replay", "--spool-dir", str(spool.folder), env=env)
    finally:
        backend.stop()
    assert up.returncode == 0, up.stdout + up.stderr
    assert "[8/8] sent" in up.stdout and "sent 8, left 0" in up.stdout
    assert backend.events == sent
    for event in backend.events:
        assert_valid(event)
    assert spool.entries() == []

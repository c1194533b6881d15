"""The first hook of a task process must not import heavy libraries on the task's path.

The OpenTelemetry SDK, the exporters and the OpenLineage client are imported by the sink
threads when they build their sinks; importing the plugin and building the runtime (what the
first hook does) must stay cheap. Measured by ``make bench``; here only which modules load.
"""

import json
import subprocess
import sys

HEAVY = ("opentelemetry.sdk", "opentelemetry.exporter", "openlineage", "grpc", "google.protobuf", "requests")

SCRIPT = """
import json, sys
import airflow.plugins_manager, airflow.listeners
before = set(sys.modules)
import otel_listener.plugin, otel_listener.listener
from otel_listener import runtime
runtime.set_role("task")
assert runtime.get() is not None
print("RESULT " + json.dumps(sorted(set(sys.modules) - before)))
"""


def test_plugin_import_and_runtime_build_load_no_heavy_module(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OPENLINEAGE_URL": "http://127.0.0.1:9",  # lineage_enabled=auto then wants the lineage sink
        "AIRFLOW__OTEL_LISTENER__STATE_DIR": str(tmp_path / "state"),
    }
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
    added = json.loads(line[len("RESULT ") :])
    assert "otel_listener.runtime" in added
    heavy = [m for m in added if m.startswith(HEAVY)]
    assert heavy == [], heavy


PRELOAD_SCRIPT = """
import json, sys
from otel_listener import runtime
from otel_listener.listener import listener

class SchedulerJob:
    job_type = "SchedulerJob"

listener.on_starting(component=SchedulerJob())
wanted = ("otel_listener.sinks", "opentelemetry.exporter", "openlineage.client")
print("RESULT " + json.dumps(sorted(m for m in sys.modules if m.startswith(wanted))))
"""


def test_scheduler_start_preloads_sinks_for_the_processes_it_forks(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OPENLINEAGE_URL": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", PRELOAD_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])
    assert "otel_listener.sinks.traces" in loaded and "otel_listener.sinks.metrics" in loaded
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in loaded
    assert "opentelemetry.exporter.otlp.proto.grpc.trace_exporter" not in loaded  # only the configured protocol
    assert "otel_listener.sinks.lineage" in loaded and "openlineage.client" in loaded

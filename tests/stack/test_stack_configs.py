"""Every config of the stack is read by the real program that will read it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIGS = ["otelcol.yaml", "agent.yaml", "gateway.yaml"]
PROM = REPO / "prometheus"


def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_collector_config_validates(stack_binaries: dict[str, str], name: str) -> None:
    res = run(stack_binaries["collector"], "validate", "--config", str(REPO / "collector-config" / name))
    assert res.returncode == 0, res.stdout + res.stderr


def test_collector_validate_rejects_a_broken_config(stack_binaries: dict[str, str], tmp_path: Path) -> None:
    """validate really checks: an unknown processor in a pipeline fails."""
    text = (REPO / "collector-config/otelcol.yaml").read_text()
    broken = text.replace("transform/airflow_deltas, delta_to_cumulative]", "transform/airflow_deltas, nope]")
    assert broken != text
    (tmp_path / "broken.yaml").write_text(broken)
    res = run(stack_binaries["collector"], "validate", "--config", str(tmp_path / "broken.yaml"))
    assert res.returncode != 0


def test_jaeger_config_validates(stack_binaries: dict[str, str]) -> None:
    res = run(stack_binaries["jaeger"], "validate", "--config", str(REPO / "jaeger/jaeger.yaml"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_builder_version_matches_manifest() -> None:
    versions = dict(
        line.split("=", 1)
        for line in (REPO / "stack/versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    manifest = yaml.safe_load((REPO / "collector-config/builder-config.yaml").read_text())
    core = [
        m["gomod"].split()[1]
        for kind in ("receivers", "processors", "exporters")
        for m in manifest[kind]
        if m["gomod"].startswith("go.opentelemetry.io/collector/")
    ]
    assert set(core) == {versions["OCB_VERSION"]}


def test_promtool_check_config(stack_binaries: dict[str, str]) -> None:
    res = run("promtool", "check", "config", str(PROM / "prometheus.yml"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_rules(stack_binaries: dict[str, str]) -> None:
    rules = sorted(str(p) for p in (PROM / "rules").glob("*.yml"))
    assert rules
    res = run("promtool", "check", "rules", *rules)
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_test_rules(stack_binaries: dict[str, str]) -> None:
    tests = sorted(str(p) for p in (PROM / "tests").glob("*.test.yml"))
    assert tests
    res = run("promtool", "test", "rules", *tests)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("SUCCESS") == len(tests)


def test_amtool_check_config(stack_binaries: dict[str, str]) -> None:
    res = run("amtool", "check-config", str(PROM / "alertmanager.yml"))
    assert res.returncode == 0, res.stdout + res.stderr


def _alert_rules() -> list[dict]:
    rules = []
    for path in sorted((PROM / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [r for r in group["rules"] if "alert" in r]
    return rules


def test_every_alert_has_severity_runbook_and_tests_that_fire_and_do_not() -> None:
    runbooks = (PROM / "RUNBOOKS.md").read_text().lower()
    tests = [yaml.safe_load(p.read_text()) for p in (PROM / "tests").glob("*.test.yml")]
    fires: set[str] = set()
    quiet: set[str] = set()
    for test_file in tests:
        for case in test_file["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert f"## {anchor}" in runbooks, f"{name}: no '## {rule['alert']}' section in RUNBOOKS.md"
        assert name in fires, f"{name}: no promtool test where it fires"
        assert name in quiet, f"{name}: no promtool test where it must not fire"
        if name.startswith("AirflowDag") or name.startswith("AirflowTask"):
            assert "dag_id" in rule["expr"], f"{name}: alerts about a DAG keep its dag_id label"


def test_docker_compose_uses_the_same_files() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"otel-collector", "jaeger", "prometheus", "alertmanager", "grafana"} <= set(services)
    mounted: set[str] = set()
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            src = volume.split(":", 1)[0]
            if src.startswith("./"):
                assert (REPO / src).exists(), f"{name}: {src} does not exist"
                mounted.add(src[2:])
    for needed in (
        "collector-config/otelcol.yaml",
        "jaeger/jaeger.yaml",
        "prometheus/prometheus.yml",
        "prometheus/rules",
        "prometheus/alertmanager.yml",
        "grafana/provisioning",
        "grafana/dashboards",
    ):
        assert needed in mounted, f"docker-compose.yml does not mount {needed}"
    images = {name: svc["image"].split(":")[0] for name, svc in services.items()}
    assert images == {
        "otel-collector": "otel/opentelemetry-collector-contrib",
        "jaeger": "jaegertracing/jaeger",
        "prometheus": "prom/prometheus",
        "alertmanager": "prom/alertmanager",
        "grafana": "grafana/grafana",
    }
    # the env variables the compose file sets are the ones the configs read
    configs = (REPO / "collector-config/otelcol.yaml").read_text() + (REPO / "jaeger/jaeger.yaml").read_text()
    for name in ("otel-collector", "jaeger"):
        for var in services[name].get("environment", {}):
            if not var.startswith("OTEL_"):
                assert f"${{env:{var}:-" in configs, f"{name}: {var} is read by no config"


def test_grafana_provisioning() -> None:
    ds = yaml.safe_load((REPO / "grafana/provisioning/datasources/datasources.yaml").read_text())
    by_uid = {d["uid"]: d for d in ds["datasources"]}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["jaeger"]["type"] == "jaeger"
    prov = yaml.safe_load((REPO / "grafana/provisioning/dashboards/dashboards.yaml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_local_ports_are_loopback_only() -> None:
    """Every listen address the local stack uses defaults to 127.0.0.1."""
    for path in [*(REPO / "collector-config").glob("*.yaml"), REPO / "jaeger/jaeger.yaml"]:
        for match in re.finditer(r"(endpoint|host):\s*(\S+)", path.read_text()):
            value = match.group(2)
            if value.startswith("${env:"):
                value = value.split(":-", 1)[1].rstrip("}")
            if match.group(1) == "endpoint" and "/" in value:  # exporter targets (URLs) are fine
                continue
            assert value.startswith(("127.", "[")), f"{path.name}: {match.group(0)}"

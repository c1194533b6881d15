"""Documentation that must not drift from the code."""

from pathlib import Path

from otel_listener.config import OPTIONS, Settings

REPO = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_the_code():
    readme = (REPO / "README.md").read_text()
    defaults = Settings()
    for key, (_parser, description) in OPTIONS.items():
        value = getattr(defaults, key)
        shown = ",".join(value) if isinstance(value, tuple) else value
        row = f"| `{key}` | `AIRFLOW__OTEL_LISTENER__{key.upper()}` | `{shown}` | {description} |"
        assert row in readme, f"README configuration row out of date:\n{row}"


def test_contract_lists_every_metric_the_sink_creates():
    contract = (REPO / "docs" / "telemetry-contract.md").read_text()
    source = (REPO / "otel_listener" / "sinks" / "metrics.py").read_text()
    import re

    names = set(re.findall(r'"((?:airflow|otel_listener)\.[a-z_.]+)"', source))
    assert len(names) >= 12
    for name in names:
        assert f"`{name}`" in contract, name

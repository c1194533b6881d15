import pytest

from otel_listener.sinks import otlp


def test_resource_defaults_to_airflow_without_per_process_identity():
    attributes = dict(otlp.resource().attributes)
    assert attributes["service.name"] == "airflow"
    assert "service.instance.id" not in attributes  # would split every task process into its own series


def test_resource_honours_standard_env(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "airflow-prod")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.instance.id=host-7")
    attributes = dict(otlp.resource().attributes)
    assert attributes["service.name"] == "airflow-prod"
    assert attributes["deployment.environment"] == "prod"
    assert attributes["service.instance.id"] == "host-7"


def test_protocol_selection_and_validation(monkeypatch):
    assert otlp.protocol("traces") == "http/protobuf"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert otlp.protocol("metrics") == "grpc"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="unsupported OTLP protocol"):
        otlp.protocol("traces")


def test_export_timeout_is_capped_for_short_lived_processes(monkeypatch):
    assert otlp.export_timeout("traces", None) == 10.0
    assert otlp.export_timeout("traces", 0.5) == 0.5
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.2")
    assert otlp.export_timeout("traces", 0.5) == 0.2
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="not a number"):
        otlp.export_timeout("traces", None)


def test_grpc_exporters_can_be_built(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    exporter = otlp.span_exporter(0.5)
    assert type(exporter).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")

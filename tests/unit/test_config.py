import logging

from otel_listener.config import OPTIONS, Settings, load_settings


def no_file(key):
    return None


def test_defaults_when_nothing_is_set():
    settings = load_settings({}, no_file)
    assert settings == Settings()
    assert settings.flush_timeout < 1.0
    assert set(settings.sources) == set(OPTIONS)
    assert all(source == "default" for source in settings.sources.values())


def test_env_wins_over_airflow_cfg():
    settings = load_settings(
        {"AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT": "2.5"}, lambda key: "7" if key == "flush_timeout" else None
    )
    assert settings.flush_timeout == 2.5
    assert settings.sources["flush_timeout"] == "AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT"
    from_file = load_settings({}, lambda key: "7" if key == "flush_timeout" else None)
    assert from_file.flush_timeout == 7.0
    assert "airflow.cfg" in from_file.sources["flush_timeout"]


def test_invalid_values_fall_back_with_one_log_line_each(caplog):
    env = {
        "AIRFLOW__OTEL_LISTENER__FLUSH_TIMEOUT": "soon",
        "AIRFLOW__OTEL_LISTENER__QUEUE_SIZE": "-5",
        "AIRFLOW__OTEL_LISTENER__TRACES_ENABLED": "maybe",
    }
    with caplog.at_level(logging.WARNING, logger="otel_listener"):
        settings = load_settings(env, no_file)
    assert settings.flush_timeout == Settings().flush_timeout
    assert settings.queue_size == Settings().queue_size
    assert settings.traces_enabled is False  # an unreadable switch is off
    assert settings.metrics_enabled is True
    assert len(settings.problems) == 3
    assert len([r for r in caplog.records if "invalid" in r.getMessage()]) == 3


def test_dag_filters():
    settings = load_settings(
        {"AIRFLOW__OTEL_LISTENER__INCLUDE_DAGS": "etl_*, reports", "AIRFLOW__OTEL_LISTENER__EXCLUDE_DAGS": "etl_tmp*"},
        no_file,
    )
    assert settings.dag_selected("etl_daily")
    assert settings.dag_selected("reports")
    assert not settings.dag_selected("etl_tmp_1")
    assert not settings.dag_selected("other")
    assert Settings().dag_selected("anything")


def test_enabled_switch():
    assert load_settings({"AIRFLOW__OTEL_LISTENER__ENABLED": "false"}, no_file).enabled is False
    assert load_settings({}, lambda key: "False" if key == "enabled" else None).enabled is False


def test_candidate_config_can_be_validated_quietly(caplog):
    with caplog.at_level(logging.WARNING, logger="otel_listener"):
        settings = load_settings({"AIRFLOW__OTEL_LISTENER__QUEUE_SIZE": "lots"}, no_file, log_problems=False)
    assert len(settings.problems) == 1
    assert caplog.records == []

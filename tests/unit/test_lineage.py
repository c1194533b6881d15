"""Lineage: dataset naming, run ids, event building (validated against the official schemas), coexistence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from lineage_support import assert_valid

from otel_listener import ids
from otel_listener.events import DagRunEvent, ErrorInfo, EventKind, LineageParent, Outcome, RunRef, TaskEvent
from otel_listener.lineage import build, coexist, naming, runids

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
RUN = RunRef("etl", "manual__1", 0)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///tmp/data/x.csv", ("file", "/tmp/data/x.csv")),
        ("s3://bucket/raw/2026/x.parquet", ("s3://bucket", "raw/2026/x.parquet")),
        ("s3a://bucket/k", ("s3://bucket", "k")),
        ("gs://bkt/a/b", ("gs://bkt", "a/b")),
        ("gcs://bkt/a", ("gs://bkt", "a")),
        ("postgres://db.example:5433/shop/public/orders", ("postgres://db.example:5433", "shop.public.orders")),
        ("postgresql://db/shop/public/orders", ("postgres://db:5432", "shop.public.orders")),
        ("mysql://m1/shop/orders", ("mysql://m1:3306", "shop.orders")),
        ("bigquery://proj/ds/tbl", ("bigquery", "proj.ds.tbl")),
        ("snowflake://acme-prod/DB/SCH/TBL", ("snowflake://acme-prod", "DB.SCH.TBL")),
        ("kafka://broker:9093/events", ("kafka://broker:9093", "events")),
        ("trino://t:8080/cat/sch/tbl", ("trino://t:8080", "cat.sch.tbl")),
        ("abfss://c@acct.dfs.core.windows.net/p/q", ("abfss://c@acct.dfs.core.windows.net", "p/q")),
        ("hdfs://nn:8020/warehouse/t", ("hdfs://nn:8020", "/warehouse/t")),
        ("just_a_name", ("airflow-asset", "just_a_name")),
    ],
)
def test_dataset_naming_follows_the_openlineage_conventions(uri, expected):
    assert naming.dataset_name(uri) == expected


def test_run_ids_are_stable_per_try_and_distinct_across_tries_clears_and_map_indexes():
    a = runids.task_try_uuid(RUN, "t", -1, 1)
    assert a == runids.task_try_uuid(
        RunRef("etl", "manual__1", 0, "00-" + "1" * 32 + "-" + "2" * 16 + "-01"), "t", -1, 1
    )
    others = {
        runids.task_try_uuid(RUN, "t", -1, 2),
        runids.task_try_uuid(RunRef("etl", "manual__1", 1), "t", -1, 1),
        runids.task_try_uuid(RUN, "t", 0, 1),
        runids.task_try_uuid(RUN, "u", -1, 1),
        runids.dag_run_uuid(RUN),
        runids.dag_run_uuid(RunRef("etl", "manual__1", 1)),
    }
    assert a not in others and len(others) == 6


def _task(kind: EventKind, **kw) -> TaskEvent:
    base = dict(
        kind=kind,
        run=RUN,
        task_id="load",
        try_number=1,
        start_date=T0,
        end_date=T0 + timedelta(seconds=5),
        logical_date=T0,
        operator="PythonOperator",
        pool="default_pool",
        queue="default",
        owner="data-team",
        dag_tags=("finance", "lineage"),
        inlets=(("raw", "s3://bucket/raw/orders.csv"),),
        outlets=(("orders", "postgres://db/shop/public/orders"),),
        process_role="task",
    )
    base.update(kw)
    return TaskEvent(**base)


def test_a_task_try_gives_start_and_complete_with_the_same_run_id_and_real_times():
    (start,) = build.run_events(_task(EventKind.TASK_RUNNING, end_date=None), "airflow")
    (done,) = build.run_events(_task(EventKind.TASK_SUCCESS, outcome=Outcome.SUCCESS), "airflow")
    for event in (start, done):
        assert_valid(event)
    assert (start["eventType"], done["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"]
    assert start["eventTime"] == T0.isoformat() and done["eventTime"] == (T0 + timedelta(seconds=5)).isoformat()
    assert (done["job"]["namespace"], done["job"]["name"]) == ("airflow", "etl.load")
    assert done["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert done["job"]["facets"]["jobType"]["integration"] == "AIRFLOW"
    assert [o["name"] for o in done["job"]["facets"]["ownership"]["owners"]] == ["data-team"]
    assert [t["key"] for t in done["job"]["facets"]["tags"]["tags"]] == ["finance", "lineage"]
    assert (done["inputs"][0]["namespace"], done["inputs"][0]["name"]) == ("s3://bucket", "raw/orders.csv")
    assert (done["outputs"][0]["namespace"], done["outputs"][0]["name"]) == ("postgres://db:5432", "shop.public.orders")
    facets_ = done["run"]["facets"]
    assert facets_["parent"]["run"]["runId"] == runids.dag_run_uuid(RUN)
    assert facets_["parent"]["job"] == {"namespace": "airflow", "name": "etl", "facets": {}}
    assert facets_["parent"]["root"]["run"]["runId"] == runids.dag_run_uuid(RUN)
    assert facets_["nominalTime"]["nominalStartTime"] == T0.isoformat()
    assert facets_["processing_engine"]["name"] == "Airflow"
    otel = facets_["otelListener"]
    assert otel["traceId"] == f"{ids.trace_id_for(RUN):032x}"
    assert otel["spanId"] == f"{ids.task_span_id(RUN, 'load', -1, 1):016x}"
    expected = {"operator": "PythonOperator", "pool": "default_pool", "queue": "default"}
    assert otel["airflow"].items() >= expected.items()
    assert (otel["airflow"]["tryNumber"], otel["airflow"]["mapIndex"]) == (1, -1)


def test_failures_carry_the_error_and_stack_trace_and_aborts_cover_scheduler_decided_ends():
    error = ErrorInfo("ValueError", "password=hunter2 broke", 'Traceback...\n  raise ValueError("x")\n')
    (retry,) = build.run_events(_task(EventKind.TASK_FAILED, state="up_for_retry", error=error), "airflow")
    (final,) = build.run_events(_task(EventKind.TASK_FAILED, try_number=2, state="failed", error=error), "airflow")
    (skipped,) = build.run_events(_task(EventKind.TASK_SKIPPED), "airflow")
    killed = _task(
        EventKind.TASK_SYNTHESIZED, killed=True, error=ErrorInfo("TaskKilled", "gone"), process_role="scheduler"
    )
    (abort,) = build.run_events(killed, "airflow")
    for event in (retry, final, skipped, abort):
        assert_valid(event)
    assert [e["eventType"] for e in (retry, final, skipped, abort)] == ["FAIL", "FAIL", "ABORT", "ABORT"]
    assert retry["run"]["runId"] != final["run"]["runId"]
    assert retry["run"]["facets"]["errorMessage"]["stackTrace"].startswith("Traceback")
    assert retry["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"
    assert abort["run"]["facets"]["errorMessage"]["message"].startswith("TaskKilled")
    assert abort["run"]["runId"] == runids.task_try_uuid(RUN, "load", -1, 1)
    manual = _task(EventKind.TASK_SUCCESS, process_role="api-server")
    assert build.run_events(manual, "airflow") == []


def test_dag_run_events_parent_from_conf_inputs_from_consumed_assets_and_synthesized_aborts():
    parent = LineageParent("upstream", "orchestrator.job", "3c0b0f6a-6a3c-4a9c-9a61-0f5d3f3f0001")
    upstream_failed = _task(
        EventKind.TASK_SYNTHESIZED, task_id="report", try_number=0, state="upstream_failed", process_role="scheduler"
    )
    end = DagRunEvent(
        kind=EventKind.DAG_RUN_FAILED,
        run=RUN,
        state="failed",
        start_date=T0,
        end_date=T0 + timedelta(minutes=1),
        logical_date=T0,
        msg="task_failure",
        consumed_assets=(("orders", "postgres://db/shop/public/orders"),),
        dag_tags=("finance",),
        dag_owner="data-team",
        lineage_parent=parent,
        synthesized_tasks=(upstream_failed,),
        process_role="scheduler",
    )
    events = build.run_events(end, "prod")
    for event in events:
        assert_valid(event)
    assert [e["eventType"] for e in events] == ["ABORT", "FAIL"]
    dag = events[-1]
    assert dag["job"]["name"] == "etl" and dag["job"]["namespace"] == "prod"
    assert dag["job"]["facets"]["jobType"]["jobType"] == "DAG"
    assert dag["run"]["runId"] == runids.dag_run_uuid(RUN)
    assert dag["run"]["facets"]["parent"]["run"]["runId"] == parent.run_id
    assert dag["run"]["facets"]["parent"]["root"]["job"]["name"] == "orchestrator.job"
    assert dag["run"]["facets"]["errorMessage"]["message"] == "task_failure"
    assert dag["run"]["facets"]["otelListener"]["spanId"] == f"{ids.dag_run_span_id(RUN):016x}"
    assert dag["inputs"][0]["name"] == "shop.public.orders"
    assert events[0]["run"]["facets"]["parent"]["run"]["runId"] == dag["run"]["runId"]
    start = build.run_events(DagRunEvent(kind=EventKind.DAG_RUN_RUNNING, run=RUN, start_date=T0), "prod")
    assert [e["eventType"] for e in start] == ["START"] and start[0]["eventTime"] == T0.isoformat()
    under_dags_test = build.run_events(
        DagRunEvent(kind=EventKind.DAG_RUN_SUCCESS, run=RUN, start_date=T0, end_date=T0, process_role="dags-test"),
        "prod",
    )
    assert [e["eventType"] for e in under_dags_test] == ["START", "COMPLETE"]


def test_lineage_parent_from_conf():
    from otel_listener.adapter import lineage_parent_from_conf

    conf = {
        "openlineage": {
            "parentRunId": "3c0b0f6a-6a3c-4a9c-9a61-0f5d3f3f0001",
            "parentJobNamespace": "ns",
            "parentJobName": "job",
            "rootParentRunId": "3c0b0f6a-6a3c-4a9c-9a61-0f5d3f3f0002",
            "rootParentJobNamespace": "rns",
            "rootParentJobName": "rjob",
        }
    }
    parent = lineage_parent_from_conf(conf)
    assert parent == LineageParent("ns", "job", conf["openlineage"]["parentRunId"], "rns", "rjob", parent.root_run_id)
    assert lineage_parent_from_conf({"openlineage": {"parentRunId": "x"}}) is None
    assert lineage_parent_from_conf(None) is None


def test_client_round_trip_keeps_the_event():
    from openlineage.client.serde import Serde

    (event,) = build.run_events(_task(EventKind.TASK_SUCCESS), "airflow")
    assert Serde.to_dict(build.to_client_event(event)) == event


def test_coexistence_with_the_official_provider():
    assert coexist.decide(False, installed=False)[0] is True
    assert coexist.decide(False, installed=True, enabled=False)[0] is True
    emit, line = coexist.decide(False, installed=True, enabled=True)
    assert emit is False and "provider" in line
    assert coexist.decide(True, installed=True, enabled=True)[0] is True
    assert coexist.provider_enabled({"OPENLINEAGE_DISABLED": "true"}) is False
    assert coexist.provider_enabled({"AIRFLOW__OPENLINEAGE__DISABLED": "True"}) is False
    assert coexist.provider_enabled({}, conf_lookup=lambda: None) is True


def test_lineage_is_on_only_when_configured(monkeypatch, tmp_path):
    from otel_listener import runtime
    from otel_listener.config import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    names = lambda env: [n for n, _ in runtime._sink_factories(load_settings(env, lambda k: None), None)]  # noqa: E731
    assert "lineage" not in names({})
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:1")
    assert "lineage" in names({})
    assert "lineage" not in names({"AIRFLOW__OTEL_LISTENER__LINEAGE_ENABLED": "false"})
    monkeypatch.delenv("OPENLINEAGE_URL")
    assert "lineage" in names({"AIRFLOW__OTEL_LISTENER__LINEAGE_TRANSPORT": "otlp"})


def test_otlp_log_records_carry_the_event_and_the_run_trace_context():
    import json

    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    from otel_listener.lineage.transport import EVENT_NAME, OtlpLogSender

    exporter = InMemoryLogRecordExporter()
    (event,) = build.run_events(_task(EventKind.TASK_SUCCESS), "airflow")
    OtlpLogSender("0.1.0", None, exporter=exporter).send(event)
    (record,) = exporter.get_finished_logs()
    assert json.loads(record.log_record.body) == event
    assert record.log_record.event_name == EVENT_NAME
    assert record.log_record.trace_id == ids.trace_id_for(RUN)
    assert record.log_record.span_id == ids.task_span_id(RUN, "load", -1, 1)
    assert record.log_record.attributes["openlineage.run.id"] == event["run"]["runId"]

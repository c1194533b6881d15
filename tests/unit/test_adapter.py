from datetime import datetime, timedelta, timezone

import pytest
from fakes import T0, FakeTask, OrmDagRun, OrmTaskInstance, RuntimeTaskInstance, SdkDagRun, ServerContext

from otel_listener import adapter
from otel_listener.events import EventKind, Outcome


def test_worker_task_instance_becomes_a_task_event():
    ti = RuntimeTaskInstance(map_index=2, rendered_map_index="file=b.csv", try_number=3, max_tries=4)
    event = adapter.task_event(EventKind.TASK_SUCCESS, ti, previous_state="running", role="task")
    assert (event.run.dag_id, event.task_id, event.map_index, event.try_number) == ("etl", "extract", 2, 3)
    assert event.operator == "PythonOperator"
    assert event.pool == "default_pool" and event.queue == "default" and event.owner == "data-platform"
    assert event.outcome is Outcome.SUCCESS and event.previous_state == "running"
    assert event.rendered_map_index == "file=b.csv"
    assert event.start_date == T0 + timedelta(seconds=5)
    assert event.run_type == "manual" and event.process_role == "task"


def test_orm_task_instance_with_string_error():
    ti = OrmTaskInstance(state="failed", hostname="w1", start_date=T0, end_date=T0, dag_run=OrmDagRun(clear_number=2))
    event = adapter.task_event(EventKind.TASK_FAILED, ti, error="Executor reports task failed", role="scheduler")
    assert event.outcome is Outcome.FAILED
    assert event.error is not None and event.error.type == "str" and "Executor" in event.error.message
    assert event.operator == "BashOperator"
    assert event.run.clear_number == 2


def test_retried_try_is_a_retry_not_a_failure():
    ti = RuntimeTaskInstance(state="up_for_retry")
    event = adapter.task_event(EventKind.TASK_FAILED, ti, error=ValueError("boom"), role="task")
    assert event.outcome is Outcome.RETRY
    assert event.error.type == "ValueError" and event.error.message == "boom"


def test_exception_stack_trace_is_kept_and_bounded():
    def fail():
        raise KeyError("missing" * 1000)

    try:
        fail()
    except KeyError as exc:
        error = exc
    info = adapter.error_info(error, max_stacktrace=500)
    assert info.type == "KeyError"
    assert "fail()" in info.stacktrace or "in fail" in info.stacktrace
    assert len(info.stacktrace) <= 600
    assert len(adapter.error_info(error, 0).stacktrace) == 0


def test_exotic_exceptions_never_break_the_builder():
    class NoStr(Exception):
        def __str__(self):
            raise RuntimeError("no str for you")

        def __repr__(self):
            raise RuntimeError("no repr either")

    info = adapter.error_info(NoStr(), 1000)
    assert info.type.endswith("NoStr")
    assert "unprintable" in info.message


def test_odd_input_gives_safe_defaults():
    long_id = "ü" * 5000
    ti = RuntimeTaskInstance(
        dag_id=long_id, task_id="\x00\u2603\ud800", start_date=None, end_date=None, try_number=None
    )
    ti.task = None  # type: ignore[assignment]
    ti._ti_context_from_server = None
    event = adapter.task_event(EventKind.TASK_SUCCESS, ti, role="task")
    assert len(event.run.dag_id) <= adapter.MAX_ID_CHARS
    assert event.try_number == 0
    assert event.end_date is not None  # an end without a date gets "now"
    assert event.start_date is None
    assert event.operator is None


def test_completely_foreign_object_does_not_raise():
    event = adapter.task_event(EventKind.TASK_RUNNING, object(), role="task")
    assert event.task_id == "<unknown>" and event.run.dag_id == "<unknown>"


def test_naive_dates_are_taken_as_utc():
    naive = datetime(2026, 1, 1, 12, 0, 0)
    ti = RuntimeTaskInstance(start_date=naive)
    event = adapter.task_event(EventKind.TASK_RUNNING, ti, role="task")
    assert event.start_date == naive.replace(tzinfo=timezone.utc)


def test_traceparent_from_conf_reaches_the_run_ref():
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ti = RuntimeTaskInstance(_ti_context_from_server=ServerContext(SdkDagRun(conf={"traceparent": tp}, clear_number=1)))
    event = adapter.task_event(EventKind.TASK_RUNNING, ti, role="task")
    assert event.run.traceparent == tp and event.run.clear_number == 1


def test_synthesized_tasks_cover_scheduler_decided_states_only():
    tis = [
        OrmTaskInstance(task_id="a", state="upstream_failed"),
        OrmTaskInstance(task_id="b", state="skipped", hostname=""),
        OrmTaskInstance(task_id="c", state="skipped", hostname="w1"),  # skipped itself: its own hook fired
        OrmTaskInstance(task_id="d", state="success", hostname="w1"),
        OrmTaskInstance(task_id="e", state="removed"),
        OrmTaskInstance(task_id="f", state="scheduled", hostname=None),
        OrmTaskInstance(task_id="g", state="failed", hostname="w1"),
    ]
    end = T0 + timedelta(minutes=1)
    events = adapter.synthesized_tasks(tis, end, "scheduler")
    assert [e.task_id for e in events] == ["a", "b", "e", "f"]
    assert all(e.kind is EventKind.TASK_SYNTHESIZED and e.end_date == end for e in events)
    assert events[0].outcome is Outcome.UPSTREAM_FAILED and events[1].outcome is Outcome.SKIPPED


def test_scheduling_delays_only_for_tasks_that_ran():
    tis = [
        OrmTaskInstance(task_id="a", hostname="w", queued_dttm=T0, start_date=T0 + timedelta(seconds=3)),
        OrmTaskInstance(task_id="b", hostname="", queued_dttm=T0, start_date=None),
    ]
    assert adapter.scheduling_delays(tis) == (("a", 3.0),)


def test_dag_run_end_event_reads_task_instances(monkeypatch):
    tis = [OrmTaskInstance(task_id="x", state="upstream_failed")]
    monkeypatch.setattr(adapter, "_run_task_instances", lambda dag_run: tis)
    monkeypatch.setattr(adapter, "_upstream_runs", lambda dag_run: ())
    event = adapter.dag_run_end_event(
        EventKind.DAG_RUN_FAILED, OrmDagRun(state="failed"), "task_failure", role="scheduler", synthesize=True
    )
    assert event.outcome is Outcome.FAILED and event.msg == "task_failure"
    assert [t.task_id for t in event.synthesized_tasks] == ["x"]
    assert event.triggering_user == "alice"
    no_synth = adapter.dag_run_end_event(EventKind.DAG_RUN_FAILED, OrmDagRun(), "m", role="scheduler", synthesize=False)
    assert no_synth.synthesized_tasks == ()


@pytest.mark.parametrize(
    ("argv", "role"),
    [
        (["airflow", "scheduler"], "scheduler"),
        (["airflow", "api-server", "--port", "8080"], "api-server"),
        (["airflow", "dags", "test", "etl"], "dags-test"),
        (["airflow", "dag-processor"], "dag-processor"),
        (["python"], "unknown"),
    ],
)
def test_role_from_argv(argv, role):
    assert adapter.role_from_argv(argv) == role


def test_task_type_wins_over_nothing():
    ti = RuntimeTaskInstance(task=FakeTask(task_type="_PythonDecoratedOperator"))
    assert adapter.task_event(EventKind.TASK_RUNNING, ti, role="task").operator == "_PythonDecoratedOperator"

import time
from datetime import timedelta

from fakes import T0, RuntimeTaskInstance

from otel_listener import adapter
from otel_listener.events import DagRunEvent, EventKind, Outcome, TaskInstanceSnapshot
from otel_listener.inflight import InflightSink, check_later, killed_tries, run_dir

RUN_END = T0 + timedelta(hours=1)


def start(sink, **kw):
    event = adapter.task_event(EventKind.TASK_RUNNING, RuntimeTaskInstance(**kw), role="task")
    sink.handle(event)
    return event


def run_end(event, *tis):
    return DagRunEvent(
        EventKind.DAG_RUN_FAILED, event.run, end_date=RUN_END, task_instances=tuple(tis), process_role="scheduler"
    )


def snap(task_id, try_number, state, end=None):
    return TaskInstanceSnapshot(task_id, -1, try_number, state, T0, end)


def test_marker_lives_from_start_to_end(tmp_path):
    sink = InflightSink(tmp_path)
    event = start(sink)
    assert len(list(run_dir(tmp_path, event.run).glob("*.json"))) == 1
    sink.handle(adapter.task_event(EventKind.TASK_SUCCESS, RuntimeTaskInstance(), role="task"))
    assert not run_dir(tmp_path, event.run).exists()  # marker and empty run folder gone


def test_scheduler_side_objects_write_no_markers(tmp_path):
    sink = InflightSink(tmp_path)
    sink.handle(adapter.task_event(EventKind.TASK_RUNNING, RuntimeTaskInstance(), role="scheduler"))
    assert list(tmp_path.rglob("*.json")) == []


def test_left_over_marker_is_a_killed_try(tmp_path):
    sink = InflightSink(tmp_path)
    event = start(sink, task_id="oom", try_number=1)
    ended = T0 + timedelta(minutes=3)
    (killed,) = killed_tries(tmp_path, run_end(event, snap("oom", 1, "failed", ended)))
    assert killed.killed and killed.outcome is Outcome.FAILED and killed.kind is EventKind.TASK_SYNTHESIZED
    assert killed.end_date == ended and killed.start_date == event.start_date
    assert killed.error.type == "TaskKilled" and killed.operator == "PythonOperator"
    assert not run_dir(tmp_path, event.run).exists()  # cleaned up


def test_a_successful_try_with_a_late_end_hook_is_not_killed(tmp_path):
    sink = InflightSink(tmp_path)
    event = start(sink, task_id="ok")
    assert killed_tries(tmp_path, run_end(event, snap("ok", 1, "success", T0))) == ()


def test_earlier_try_killed_before_a_retry(tmp_path):
    sink = InflightSink(tmp_path)
    event = start(sink, task_id="t", try_number=1)
    (killed,) = killed_tries(tmp_path, run_end(event, snap("t", 2, "success", T0)))
    assert killed.try_number == 1 and killed.end_date == RUN_END


def test_check_later_submits_after_the_delay(tmp_path):
    sink = InflightSink(tmp_path)
    event = start(sink, task_id="victim")
    got = []
    check_later(tmp_path, run_end(event, snap("victim", 1, "failed", T0)), 0.05, got.append)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.task_id for e in got] == ["victim"]


def test_no_folder_means_nothing(tmp_path):
    event = adapter.task_event(EventKind.TASK_RUNNING, RuntimeTaskInstance(), role="task")
    assert killed_tries(tmp_path / "missing", run_end(event)) == ()

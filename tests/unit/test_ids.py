from otel_listener import ids
from otel_listener.events import RunRef

RUN = RunRef("etl", "manual__1", 0)


def test_ids_are_deterministic_and_distinct_per_try_and_clear():
    assert ids.trace_id_for(RUN) == ids.trace_id_for(RunRef("etl", "manual__1", 0))
    assert ids.trace_id_for(RUN) != ids.trace_id_for(RunRef("etl", "manual__1", 1))
    assert ids.trace_id_for(RUN) != ids.trace_id_for(RunRef("etl", "manual__2", 0))
    assert ids.task_span_id(RUN, "t", -1, 1) != ids.task_span_id(RUN, "t", -1, 2)
    assert ids.task_span_id(RUN, "t", 0, 1) != ids.task_span_id(RUN, "t", 1, 1)
    assert ids.dag_run_span_id(RUN) != ids.task_span_id(RUN, "t", -1, 1)
    assert 0 < ids.trace_id_for(RUN) < 2**128
    assert 0 < ids.dag_run_span_id(RUN) < 2**64


def test_traceparent_in_conf_decides_the_trace():
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    run = RunRef("etl", "manual__1", 0, tp)
    assert ids.trace_id_for(run) == 0x0AF7651916CD43DD8448EB211C80319C
    assert ids.upstream_parent(run) == (0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331)


def test_invalid_traceparents_are_ignored():
    for bad in (
        None,
        42,
        "",
        "garbage",
        "00-" + "0" * 32 + "-b7ad6b7169203331-01",
        "ff-" + "a" * 32 + "-" + "b" * 16 + "-01",
    ):
        assert ids.parse_traceparent(bad) is None
        assert ids.trace_id_for(RunRef("etl", "r", 0, bad if isinstance(bad, str) else None)) == ids.trace_id_for(
            RunRef("etl", "r", 0)
        )


def test_format_roundtrip():
    value = ids.format_traceparent(123, 456)
    assert ids.parse_traceparent(value) == (123, 456, 1)

"""The expected trace of one ``otel_shape`` run, asserted span by span."""

from __future__ import annotations

from collections import Counter

from otlp_receiver import Span

# (task_id, map_index, try_number, outcome, synthesized)
EXPECTED_TASK_SPANS = {
    ("ok", -1, 1, "success", False),
    ("flaky", -1, 1, "retry", False),
    ("flaky", -1, 2, "failed", False),
    ("after_flaky", -1, 0, "upstream_failed", True),
    ("skipper", -1, 1, "skipped", False),
    ("after_skip", -1, 0, "skipped", True),
    ("square", 0, 1, "success", False),
    ("square", 1, 1, "success", False),
    ("square", 2, 1, "success", False),
    ("produce", -1, 1, "success", False),
}


def spans_of_run(spans: list[Span], dag_id: str, run_id: str) -> list[Span]:
    return [
        s
        for s in spans
        if s.attributes.get("airflow.dag_id") == dag_id and s.attributes.get("airflow.run_id") == run_id
    ]


def assert_otel_shape_trace(
    spans: list[Span], run_id: str, task_role: str, run_role: str, tolerance_ns: int = 0
) -> None:
    """One trace, the DAG-run span as root, one span per try under it, errors and timing right.

    ``tolerance_ns`` absorbs rounding of backends that store microseconds (Jaeger).
    """
    run_spans = spans_of_run(spans, "otel_shape", run_id)
    assert len({s.trace_id for s in run_spans}) == 1, "all spans of the run share one trace"
    roots = [s for s in run_spans if s.name == "dag_run otel_shape"]
    assert len(roots) == 1, [s.name for s in run_spans]
    root = roots[0]
    assert root.parent_span_id == ""
    assert root.status_code == 2  # ERROR: the run failed
    assert root.attributes["cicd.pipeline.result"] == "failure"
    assert root.attributes["airflow.process.role"] == run_role
    tasks = [s for s in run_spans if s is not root]
    assert all(s.parent_span_id == root.span_id for s in tasks)
    got = Counter(
        (
            s.attributes["airflow.task_id"],
            s.attributes["airflow.map_index"],
            s.attributes["airflow.try_number"],
            s.attributes["airflow.task.outcome"],
            s.attributes["airflow.task.synthesized"],
        )
        for s in tasks
    )
    assert set(got) == EXPECTED_TASK_SPANS and all(n == 1 for n in got.values()), got
    assert len({s.span_id for s in run_spans}) == len(run_spans), "span ids are unique"
    for span in tasks:
        assert root.start_ns - tolerance_ns <= span.start_ns <= span.end_ns <= root.end_ns + tolerance_ns, span.name
        synthesized = span.attributes["airflow.task.synthesized"]
        assert span.attributes["airflow.process.role"] == (run_role if synthesized else task_role)
        failed = span.attributes["airflow.task.outcome"] in ("retry", "failed")
        assert (span.status_code == 2) == failed, span.name
        if failed:
            (event,) = span.events
            assert event["name"] == "exception"
            assert event["exception.type"] == "ValueError"
            assert event["exception.message"] == "flaky task always fails"
            assert "raise ValueError" in event["exception.stacktrace"]
    square = [s for s in tasks if s.attributes["airflow.task_id"] == "square"]
    assert sorted(s.attributes["airflow.map_index"] for s in square) == [0, 1, 2]
    assert root.resource["service.name"] == "airflow"


def expected_outcome_counts() -> Counter:
    """Task tries by (task_id, outcome), as the metrics must count them."""
    return Counter((task_id, outcome) for task_id, _m, _t, outcome, _s in EXPECTED_TASK_SPANS)

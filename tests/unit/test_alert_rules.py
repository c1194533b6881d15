"""Alert rules: loading, matching and the engine's conditions, windows, dedup, aggregation,
SLA, recovery, rate limits and quiet hours, driven by an injectable clock (no sleeping)."""

from __future__ import annotations

import logging
import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from otel_listener.alerting import rules
from otel_listener.alerting.engine import Engine, quiet_until
from otel_listener.alerting.state import SQLiteStore
from otel_listener.events import DagRunEvent, ErrorInfo, EventKind, Outcome, RunRef, TaskEvent

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # a Tuesday, noon UTC


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_runs = iter(range(1_000_000))


def task_end(
    outcome: str,
    dag_id: str = "billing_daily",
    task_id: str = "load",
    seconds: float = 10.0,
    try_number: int = 1,
    tags: tuple[str, ...] = ("critical",),
    owner: str = "data-platform",
    operator: str = "PythonOperator",
    run_id: str | None = None,
    error: str = "boom",
) -> TaskEvent:
    kind = {"success": EventKind.TASK_SUCCESS, "skipped": EventKind.TASK_SKIPPED}.get(outcome, EventKind.TASK_FAILED)
    return TaskEvent(
        kind=kind,
        run=RunRef(dag_id, run_id or f"manual__{next(_runs)}"),
        task_id=task_id,
        try_number=try_number,
        outcome=Outcome(outcome),
        start_date=T0,
        end_date=T0 + timedelta(seconds=seconds),
        operator=operator,
        owner=owner,
        dag_tags=tags,
        error=ErrorInfo("ValueError", error) if outcome in ("failed", "retry") else None,
        log_url="http://airflow.local/dags/x/runs/r/tasks/load?try_number=1",
    )


def engine(doc: dict, tmp_path: Path, clock: Clock | None = None) -> tuple[Engine, Clock]:
    clock = clock or Clock()
    base = {
        "destinations": {
            "slack": {"type": "slack", "url_env": "X"},
            "pd": {"type": "pagerduty", "routing_key_env": "Y"},
        }
    }
    return Engine(rules.parse({**base, **doc}), SQLiteStore(tmp_path / "state.sqlite"), clock), clock


def rule(**kw) -> dict:
    return {"name": "r", "destinations": ["slack"], **kw}


def sent(notes) -> list[tuple[str, list[str]]]:
    return [(n.destination, [a["subject"]["outcome"] for a in n.alerts]) for n in notes]


# -- loading and matching ------------------------------------------------------------------------


def test_the_committed_example_rules_file_loads_completely():
    ruleset = rules.load_file(REPO / "examples" / "alert-rules.yaml")
    assert {d.type for d in ruleset.destinations.values()} == {"slack", "pagerduty", "email"}
    assert {r.condition.type for r in ruleset.rules} == {"final_failure", "failures_in_window", "sla", "recovery"}
    assert any(r.aggregate_seconds > 0 for r in ruleset.rules) and any(r.quiet_hours for r in ruleset.rules)
    assert all(d.rate_limit for d in ruleset.destinations.values() if d.type == "slack")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": [rule(destinations=["nowhere"])]}, "unknown destination 'nowhere'"),
        ({"rules": [rule(condition="sometimes")]}, "condition.type"),
        ({"rules": [rule(match={"outcome": "exploded"})]}, "match.outcome"),
        ({"rules": [rule(condition={"type": "sla"})]}, "sla needs"),
        ({"rules": [rule(quiet_hours={"start": "25:99", "end": "07:00"})]}, "quiet_hours.start"),
        ({"rules": [rule(), rule()]}, "duplicate rule name"),
        ({"rules": [rule(colour="red")]}, "unknown key(s) colour"),
        ({"destinations": {"x": {"type": "fax"}}}, "destinations.x.type"),
    ],
)
def test_invalid_rules_name_the_offending_entry(doc, message):
    with pytest.raises(rules.RulesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rules.parse({"destinations": {"slack": {"type": "slack", "url_env": "X"}}, **doc})


def test_matching_on_globs_tags_owner_operator_outcome_and_duration(tmp_path):
    doc = {
        "rules": [
            rule(
                condition="any",
                match={
                    "dag_id": "billing_*",
                    "task_id": ["load", "publish_*"],
                    "tags": ["critical"],
                    "owner": "data-*",
                    "operator": "*Operator",
                    "outcome": ["failed"],
                    "min_duration": 5,
                },
            )
        ]
    }
    eng, _ = engine(doc, tmp_path)
    assert sent(eng.evaluate(task_end("failed"))) == [("slack", ["failed"])]
    assert sent(eng.evaluate(task_end("failed", task_id="publish_eu"))) == [("slack", ["failed"])]
    for miss in (
        task_end("failed", dag_id="marketing"),
        task_end("failed", task_id="extract"),
        task_end("failed", tags=("nightly",)),
        task_end("failed", owner="finance"),
        task_end("failed", operator="BashSensor"),
        task_end("success"),
        task_end("failed", seconds=1),
    ):
        assert eng.evaluate(miss) == [], miss


def test_an_event_is_evaluated_once_even_if_two_processes_see_it(tmp_path):
    eng, _ = engine({"rules": [rule(condition="any")]}, tmp_path)
    other = Engine(eng.ruleset, SQLiteStore(tmp_path / "state.sqlite"), eng.clock)
    event = task_end("failed")
    assert len(eng.evaluate(event)) == 1
    assert other.evaluate(event) == []


# -- conditions ----------------------------------------------------------------------------------


def test_final_failure_fires_on_failed_not_on_retries(tmp_path):
    eng, _ = engine({"rules": [rule(condition="final_failure")]}, tmp_path)
    assert eng.evaluate(task_end("retry", try_number=1)) == []
    assert eng.evaluate(task_end("retry", try_number=2)) == []
    assert sent(eng.evaluate(task_end("failed", try_number=3))) == [("slack", ["failed"])]


def test_n_failures_within_a_window_fire_once_per_window(tmp_path):
    cond = {"type": "failures_in_window", "threshold": 3, "window_seconds": 600}
    eng, clock = engine({"rules": [rule(condition=cond)]}, tmp_path)
    fired = []
    for _ in range(5):  # 5 failures 2 minutes apart: the 3rd fires, 4th and 5th are the same window
        fired.append(len(eng.evaluate(task_end("retry"))))
        clock.advance(120)
    assert fired == [0, 0, 1, 0, 0]
    clock.advance(3600)  # old failures leave the window: it takes 3 new ones again
    assert [len(eng.evaluate(task_end("failed"))) for _ in range(3)] == [0, 0, 1]


def test_failures_spread_wider_than_the_window_do_not_fire(tmp_path):
    cond = {"type": "failures_in_window", "threshold": 3, "window_seconds": 600, "count_retries": False}
    eng, clock = engine({"rules": [rule(condition=cond)]}, tmp_path)
    for _ in range(4):
        assert eng.evaluate(task_end("failed")) == []
        eng.evaluate(task_end("retry"))  # not counted
        clock.advance(400)


def test_sla_absolute_limit_and_multiple_of_the_recent_median(tmp_path):
    doc = {
        "rules": [
            rule(name="abs", condition={"type": "sla", "max_seconds": 300}),
            rule(name="rel", condition={"type": "sla", "median_factor": 3, "min_samples": 5}),
        ]
    }
    eng, _ = engine(doc, tmp_path)
    # Not enough history yet: a slow run only breaks the absolute limit.
    assert [n.alerts[0]["rule"] for n in eng.evaluate(task_end("success", seconds=301))] == ["abs"]
    for seconds in (10, 12, 11, 9, 10):
        assert eng.evaluate(task_end("success", seconds=seconds)) == []
    # median of the last runs (10, 12, 11, 9, 10, 301) is 10.5 -> limit 31.5s
    assert eng.evaluate(task_end("success", seconds=30)) == []
    (note,) = eng.evaluate(task_end("success", seconds=45))
    assert note.alerts[0]["rule"] == "rel" and "median" in note.alerts[0]["detail"]


def test_recovery_is_the_first_success_after_failures_only(tmp_path):
    eng, _ = engine({"rules": [rule(condition="recovery")]}, tmp_path)
    assert eng.evaluate(task_end("success")) == []  # never failed
    eng.evaluate(task_end("failed"))
    eng.evaluate(task_end("failed"))
    (note,) = eng.evaluate(task_end("success"))
    assert note.alerts[0]["kind"] == "resolve" and note.alerts[0]["severity"] == "info"
    assert eng.evaluate(task_end("success")) == []  # already recovered
    assert eng.evaluate(task_end("success", task_id="other")) == []


def test_dag_run_scope_rules_see_dag_run_ends(tmp_path):
    eng, _ = engine({"rules": [rule(condition="final_failure", match={"scope": "dag_run"})]}, tmp_path)
    assert eng.evaluate(task_end("failed")) == []
    event = DagRunEvent(
        EventKind.DAG_RUN_FAILED, RunRef("billing_daily", "r1"), outcome=Outcome.FAILED, msg="task failed"
    )
    (note,) = eng.evaluate(event)
    assert note.alerts[0]["subject"]["task_id"] == "" and note.alerts[0]["dedup_key"] == "airflow/billing_daily"


# -- dedup, incidents, aggregation, rate limits, quiet hours -------------------------------------


def test_dedup_suppresses_repeats_of_the_same_task_for_its_period(tmp_path):
    eng, clock = engine({"rules": [rule(condition="final_failure", dedup_seconds=900)]}, tmp_path)
    assert len(eng.evaluate(task_end("failed"))) == 1
    clock.advance(60)
    assert eng.evaluate(task_end("failed")) == []
    assert len(eng.evaluate(task_end("failed", task_id="other"))) == 1  # another task is another key
    clock.advance(900)
    assert len(eng.evaluate(task_end("failed"))) == 1


def test_incident_destinations_trigger_once_and_resolve_once(tmp_path):
    doc = {"rules": [rule(name="f", destinations=["pd"]), rule(name="ok", condition="recovery", destinations=["pd"])]}
    eng, _ = engine(doc, tmp_path)
    first = eng.evaluate(task_end("failed"))
    assert [a["kind"] for n in first for a in n.alerts] == ["trigger"]
    assert eng.evaluate(task_end("failed")) == eng.evaluate(task_end("failed")) == []
    (resolve,) = eng.evaluate(task_end("success"))
    assert resolve.alerts[0]["kind"] == "resolve"
    assert resolve.alerts[0]["dedup_key"] == first[0].alerts[0]["dedup_key"] == "airflow/billing_daily/load"
    assert len(eng.evaluate(task_end("failed"))) == 1  # a new incident after the resolve


def test_aggregation_batches_a_window_into_one_notification_per_destination(tmp_path):
    doc = {"rules": [rule(condition="any", destinations=["slack"], aggregate_seconds=60)]}
    eng, clock = engine(doc, tmp_path)
    for task_id in ("a", "b", "c", "d"):
        assert eng.evaluate(task_end("failed", task_id=task_id)) == []
        clock.advance(10)
    assert eng.due() == []  # 40 s into a 60 s window
    clock.advance(20)
    (note,) = eng.due()
    assert [a["subject"]["task_id"] for a in note.alerts] == ["a", "b", "c", "d"]
    assert eng.due() == []  # taken exactly once
    eng.evaluate(task_end("failed", task_id="e"))  # opens the next window
    clock.advance(61)
    assert [len(n.alerts) for n in eng.due()] == [1]


def test_a_batch_is_taken_by_exactly_one_of_several_processes(tmp_path):
    eng, clock = engine({"rules": [rule(condition="any", aggregate_seconds=5)]}, tmp_path)
    for i in range(20):
        eng.evaluate(task_end("failed", task_id=f"t{i}"))
    clock.advance(6)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        taken = pool.map(_take_due, [(str(tmp_path / "state.sqlite"), clock.now)] * 8)
    assert sorted(taken) == [0] * 7 + [20]


def _take_due(args: tuple[str, float]) -> int:
    path, now = args
    return sum(len(alerts) for _d, _g, alerts in SQLiteStore(path).take_due_batches(now))


def test_rate_limit_per_destination(tmp_path):
    doc = {
        "destinations": {"slack": {"type": "slack", "url_env": "X", "rate_limit": {"count": 2, "per_seconds": 60}}},
        "rules": [rule(condition="any")],
    }
    eng = Engine(rules.parse(doc), SQLiteStore(tmp_path / "s.sqlite"), Clock())
    suppressed = []
    eng.on_suppressed = suppressed.append
    assert [len(eng.evaluate(task_end("failed"))) for _ in range(4)] == [1, 1, 0, 0]
    assert suppressed == ["alert_rate_limited:slack"] * 2
    eng.clock.advance(61)
    assert len(eng.evaluate(task_end("failed"))) == 1


def test_quiet_hours_hold_alerts_until_they_end_except_allowed_severities(tmp_path):
    night = datetime(2026, 11, 24, 23, 30, tzinfo=timezone.utc)
    quiet = {"start": "22:00", "end": "07:00", "timezone": "UTC", "allow_severities": ["critical"]}
    doc = {
        "rules": [
            rule(name="warn", condition="any", severity="warning", quiet_hours=quiet),
            rule(name="crit", condition="any", severity="critical", quiet_hours=quiet, match={"task_id": "pay*"}),
        ]
    }
    eng, clock = engine(doc, tmp_path, Clock(night))
    assert eng.evaluate(task_end("failed", task_id="load")) == []  # held
    (_crit,) = [n for n in eng.evaluate(task_end("failed", task_id="payments")) if n.alerts[0]["rule"] == "crit"]
    clock.advance(3600 * 3)  # 02:30: still quiet
    assert eng.due() == []
    clock.now = datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc).timestamp()
    held = eng.due()
    assert [a["subject"]["task_id"] for n in held for a in n.alerts] == ["load", "payments"]


def test_quiet_until_handles_windows_over_midnight_and_time_zones():
    q = rules._quiet({"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}, "q")
    berlin_23h = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc).timestamp()  # 23:00 in Berlin (CET)
    assert quiet_until(q, berlin_23h) == datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc).timestamp()
    assert quiet_until(q, datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc).timestamp()) is None
    day = rules._quiet("12:00-13:00", "q")
    assert quiet_until(day, T0.timestamp()) == T0.timestamp() + 3600


def test_env_overrides_quiet_hours_dry_run_and_jaeger_url():
    doc = {"destinations": {"s": {"type": "slack", "url_env": "X"}}, "rules": [rule(destinations=["s"])]}
    ruleset = rules.parse(doc, {"quiet_hours": "01:00-02:00", "dry_run": "true", "jaeger_url": "http://j:16686/"})
    assert ruleset.rules[0].quiet_hours is not None and ruleset.rules[0].quiet_hours.start.hour == 1
    assert ruleset.destinations["s"].type == "log" and ruleset.destinations["s"].options["renders"] == "slack"
    assert ruleset.jaeger_url == "http://j:16686"


# -- wiring: configuration, runtime, CLI ----------------------------------------------------------


def test_alerting_is_a_sink_only_when_a_rules_file_is_set_and_a_bad_file_disables_only_it(tmp_path, caplog):
    from otel_listener import runtime
    from otel_listener.config import load_settings
    from otel_listener.dispatcher import Dispatcher
    from otel_listener.health import Health

    env = {"AIRFLOW__OTEL_LISTENER__STATE_DIR": str(tmp_path), "AIRFLOW__OTEL_LISTENER__TRACES_ENABLED": "false"}
    off = load_settings(env, lambda key: None)
    assert "alerting" not in [n for n, _ in runtime._sink_factories(off, Health())]
    (tmp_path / "bad.yaml").write_text("rules: [{name: x, destinations: [nowhere]}]")
    bad = load_settings({**env, "AIRFLOW__OTEL_LISTENER__ALERT_RULES_FILE": str(tmp_path / "bad.yaml")}, lambda k: None)
    health = Health()
    factories = runtime._sink_factories(bad, health)
    assert "alerting" in [n for n, _ in factories]
    dispatcher = Dispatcher(factories, health)
    with caplog.at_level(logging.WARNING, logger="otel_listener"):
        for _ in range(3):
            dispatcher.submit(task_end("failed"))
        dispatcher.flush(2.0)  # the metrics sink may wait for its (absent) collector; bounded
    workers = {w.name: w for w in dispatcher.workers}
    assert workers["alerting"].disabled and not workers["metrics"].disabled
    assert health.snapshot()["sink_errors"] == {"alerting": 1}
    assert caplog.text.count("alerting sink disabled") == 1 and "unknown destination 'nowhere'" in caplog.text


def test_cli_check_validates_a_rules_file(tmp_path, capsys):
    from otel_listener import cli

    assert cli.main(["alerts", "check", str(REPO / "examples" / "alert-rules.yaml")]) == 0
    assert "ok: 5 rule(s)" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("rules: [{name: x, condition: sometimes, destinations: []}]")
    assert cli.main(["alerts", "check", str(tmp_path / "bad.yaml")]) == 1
    assert "invalid: rule 'x'.condition.type" in capsys.readouterr().err

"""`journeys experiments show|promote|revert|evaluate`, parsed as the command line parses them
and run on a SQLite store."""

import json

import pytest

from journeys.cli import experiments
from journeys.cli.main import _parser
from journeys.config.settings import Settings
from tests.helpers.experiments import experiment_spec, publish, record_runs, weights


def journeys(settings: Settings, *argv: str) -> int:
    return experiments.run(_parser().parse_args(["experiments", *argv]), settings)


def test_show_promote_revert_and_evaluate(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=sqlite_url)
    publish(sqlite_url, experiment_spec(min_exposures=30))
    record_runs(sqlite_url, "a", exposed=40, converted=4)
    record_runs(sqlite_url, "b", exposed=40, converted=20)

    assert journeys(settings, "show", "offer_test") == 0
    table = capsys.readouterr().out
    assert "offer_test.split (v1)" in table
    assert "best: b; chi-square p = " in table and "split as planned" in table
    assert journeys(settings, "show", "offer_test", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["experiments"][0]["best"] == "b" and document["promotions"] == []

    assert journeys(settings, "promote", "offer_test", "split", "a") == 0
    assert "a gets all the traffic in v2" in capsys.readouterr().out
    assert weights(sqlite_url) == {"a": 1, "b": 0}
    assert journeys(settings, "revert", "offer_test", "split") == 0
    assert "weights restored in v3" in capsys.readouterr().out
    assert journeys(settings, "revert", "offer_test", "split") == 1
    assert "no promotion of offer_test.split to revert" in capsys.readouterr().err
    assert journeys(settings, "promote", "offer_test", "split", "c") == 1
    assert "no variant 'c'" in capsys.readouterr().err
    assert journeys(settings, "show", "nope") == 1

    # the revert reset the evidence: v3 has no runs yet, so nothing is promoted
    assert journeys(settings, "evaluate") == 0
    assert "1 experiment(s) with a promote block evaluated, 0 promoted" in capsys.readouterr().out
    record_runs(sqlite_url, "a", exposed=40, converted=4, version=3)
    record_runs(sqlite_url, "b", exposed=40, converted=20, version=3)
    assert journeys(settings, "evaluate", "--journey", "offer_test") == 0
    assert "offer_test.split: promoted b" in capsys.readouterr().out
    assert journeys(settings, "show", "offer_test") == 0
    shown = capsys.readouterr().out
    assert "split: a (v1 → v2, manual), reverted in v3" in shown
    assert "split: b (v3 → v4, P(best) 1.000)" in shown


def test_the_evaluation_schedule_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from temporalio.client import ScheduleActionStartWorkflow

    from journeys.cli.schedules import experiment_schedule

    assert Settings().experiment_evaluation_interval == timedelta(hours=1)
    monkeypatch.setenv("JOURNEYS_EXPERIMENT_EVALUATION_INTERVAL", "30m")
    settings = Settings(task_queue="q")
    schedule = experiment_schedule(settings)
    assert schedule.spec.intervals[0].every == timedelta(minutes=30)
    assert isinstance(schedule.action, ScheduleActionStartWorkflow)
    assert (schedule.action.workflow, schedule.action.task_queue) == (
        "ExperimentEvaluationWorkflow",
        "q",
    )
    monkeypatch.setenv("JOURNEYS_EXPERIMENT_EVALUATION_INTERVAL", "0m")
    with pytest.raises(ValueError, match="at least a minute"):
        Settings()

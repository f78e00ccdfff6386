"""Every recorded history replays against the current workflow code.

A change that would alter the commands of a running customer fails here: put it behind
`workflow.patched(...)` (docs/versioning.md), then record new histories
(tests/workflows/record_histories.py).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from journeys.cli.replay import replay_histories
from journeys.config.temporal import DATA_CONVERTER
from journeys.worker.main import WORKFLOWS
from tests.helpers.replay import ChangedJourneyWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert HISTORIES, "no recorded histories under tests/workflows/histories"
    recorded = {path.stem.split("-")[0] for path in HISTORIES}
    assert {
        "customer",
        "journey",
        "segment_refresh",
        "recommendation_training",
        "experiment_evaluation",
        "clv_fit",
        "backtest",
    } <= recorded  # every workflow type


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


async def test_the_guard_catches_a_non_deterministic_change() -> None:
    path = next(p for p in HISTORIES if p.stem.startswith("journey-baseline-cart_recovery"))
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    failures = await replay_histories([history], workflows=[ChangedJourneyWorkflow])
    [(workflow_id, error)] = failures.items()
    assert workflow_id == path.stem and "Nondeterminism" in error, error

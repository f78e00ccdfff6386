"""Every recorded history replays against the current workflow code.

A change that would alter the commands of a running customer fails here: put it behind
`workflow.patched(...)`, then record new histories (tests/workflows/record_histories.py).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from config.temporal import DATA_CONVERTER
from workflows.customer import CustomerWorkflow
from workflows.journey import JourneyWorkflow
from workflows.recommendation_training import RecommendationTrainingWorkflow
from workflows.segment_refresh import SegmentRefreshWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert HISTORIES, "no recorded histories under tests/workflows/histories"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[
            CustomerWorkflow,
            JourneyWorkflow,
            SegmentRefreshWorkflow,
            RecommendationTrainingWorkflow,
        ],
        data_converter=DATA_CONVERTER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"

"""Every `workflow.patched` marker the workflows use, in one list that `docs/versioning.md`'s
table mirrors (a test holds the two together, and the code's calls to this list).

0.2.0 started clean (the 0.1 patches were removed and baseline histories recorded) and is
tagged: each change to a recorded path now adds a patch here and follows the procedure in
docs/versioning.md.
"""

from dataclasses import dataclass
from typing import Literal

# What a workflow this build starts takes without asking `workflow.patched`: 1 = every patch
# below. Its starter writes the number in the input (`CustomerInput.paths`,
# `JourneyInput.paths`), so a new run records no marker and no TemporalChangeVersion upsert (two
# history events a patch asked). An input written before has 0: its run asks its patches and
# replays through the markers it recorded. A later patch is asked as usual until a new number
# folds it in (docs/versioning.md, "Patches an input decides").
PATHS = 1

Stage = Literal["patched", "deprecated"]  # removed patches leave the list
WorkflowType = Literal[
    "CustomerWorkflow",
    "JourneyWorkflow",
    "SegmentRefreshWorkflow",
    "RecommendationTrainingWorkflow",
    "ExperimentEvaluationWorkflow",
    "ClvFitWorkflow",
]


@dataclass(frozen=True)
class Patch:
    name: str  # the marker `workflow.patched(name)` records
    workflow: WorkflowType
    since: str  # the history version (tests/workflows/histories/*-{since}-*) that introduced it
    stage: Stage
    why: str


PATCHES: list[Patch] = [
    Patch(
        name="send_in_one_activity",
        workflow="JourneyWorkflow",
        since="v1",
        stage="patched",
        why="a send checks quiet hours and writes its step's record in its own activity: two "
        "local activities fewer a send",
    ),
    Patch(
        name="no_local_activities",
        workflow="CustomerWorkflow",
        since="v2",
        stage="patched",
        why="the customer's store work runs as regular activities: a query answered while a "
        "local activity ran could leave a history that does not replay",
    ),
    Patch(
        name="no_local_activities",
        workflow="JourneyWorkflow",
        since="v2",
        stage="patched",
        why="the run's store work runs as regular activities, for the same reason",
    ),
    Patch(
        name="send_in_one_activity_no_local_activities",
        workflow="JourneyWorkflow",
        since="v4",
        stage="patched",
        why="both patches above in one marker: a new run records one marker and one "
        "TemporalChangeVersion upsert instead of two of each",
    ),
    Patch(
        name="merge_catches_up_runs",
        workflow="CustomerWorkflow",
        since="v5",
        stage="patched",
        why="runs adopted in a merge are passed the events the customer applied while the "
        "merge was on its way (a sign-up sent with the identify converts the visit's welcome)",
    ),
]

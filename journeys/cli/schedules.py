"""Temporal Schedules of the product, made or brought up to date at start-up (`journeys up`),
with `journeys segments refresh-schedule`, `journeys recs schedule` or `journeys clv schedule`.
Creating one twice updates it, never duplicates it; an operator's pause survives the update. A
run still going when the next is due makes the next one skip, so runs never pile up."""

from datetime import timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from journeys.config.settings import Settings
from journeys.vocabulary.experiment_types import EvaluateExperimentsInput
from journeys.vocabulary.kpi_types import ClvFitInput
from journeys.vocabulary.recommendation_types import TrainRecommendersInput
from journeys.vocabulary.segment_types import SegmentRefreshInput
from journeys.workflows.clv_fit import ClvFitWorkflow
from journeys.workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from journeys.workflows.recommendation_training import RecommendationTrainingWorkflow
from journeys.workflows.segment_refresh import SegmentRefreshWorkflow

SEGMENT_REFRESH_SCHEDULE = "segment-refresh"
TRAINING_SCHEDULE = "recommendation-training"
CLV_FIT_SCHEDULE = "clv-fit"
EXPERIMENT_SCHEDULE = "experiment-evaluation"


def _every(run: Any, argument: Any, workflow_id: str, every: timedelta, queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(run, argument, id=workflow_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def segment_refresh_schedule(settings: Settings) -> Schedule:
    """Every `JOURNEYS_SEGMENT_REFRESH_INTERVAL`, one SegmentRefreshWorkflow (Temporal appends
    the start time to the workflow id)."""
    return _every(SegmentRefreshWorkflow.run, SegmentRefreshInput(), SEGMENT_REFRESH_SCHEDULE,
                  settings.segment_refresh_interval, settings.task_queue)  # fmt: skip


def training_schedule(settings: Settings, input: TrainRecommendersInput | None = None) -> Schedule:
    """Every `JOURNEYS_RECOMMENDATION_TRAINING_INTERVAL`, one RecommendationTrainingWorkflow."""
    return _every(RecommendationTrainingWorkflow.run, input or TrainRecommendersInput(),
                  "recommendation-training-run", settings.recommendation_training_interval,
                  settings.task_queue)  # fmt: skip


def clv_fit_schedule(settings: Settings, input: ClvFitInput | None = None) -> Schedule:
    """Every `JOURNEYS_CLV_FIT_INTERVAL`, one ClvFitWorkflow (BG/NBD and Gamma-Gamma fitted to
    the orders; predictions written as traits)."""
    return _every(ClvFitWorkflow.run, input or ClvFitInput(), "clv-fit-run",
                  settings.clv_fit_interval, settings.task_queue)  # fmt: skip


async def ensure_schedule(
    client: Client, schedule_id: str, schedule: Schedule
) -> Literal["created", "updated"]:
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule.state = current.description.schedule.state
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(update)
    return "updated"


async def ensure_segment_refresh_schedule(
    client: Client, settings: Settings
) -> Literal["created", "updated"]:
    return await ensure_schedule(
        client, SEGMENT_REFRESH_SCHEDULE, segment_refresh_schedule(settings)
    )


async def ensure_training_schedule(
    client: Client, settings: Settings, input: TrainRecommendersInput | None = None
) -> Literal["created", "updated"]:
    return await ensure_schedule(client, TRAINING_SCHEDULE, training_schedule(settings, input))


async def ensure_clv_schedule(
    client: Client, settings: Settings, input: ClvFitInput | None = None
) -> Literal["created", "updated"]:
    return await ensure_schedule(client, CLV_FIT_SCHEDULE, clv_fit_schedule(settings, input))


async def ensure_schedules(client: Client, settings: Settings) -> dict[str, str]:
    """Every schedule this product runs, by id: "created" or "updated"."""
    return {
        SEGMENT_REFRESH_SCHEDULE: await ensure_segment_refresh_schedule(client, settings),
        TRAINING_SCHEDULE: await ensure_training_schedule(client, settings),
        CLV_FIT_SCHEDULE: await ensure_clv_schedule(client, settings),
        EXPERIMENT_SCHEDULE: await ensure_experiment_schedule(client, settings),
    }


def experiment_schedule(settings: Settings) -> Schedule:
    """Every `JOURNEYS_EXPERIMENT_EVALUATION_INTERVAL`, one ExperimentEvaluationWorkflow."""
    return _every(ExperimentEvaluationWorkflow.run, EvaluateExperimentsInput(),
                  "experiment-evaluation-run", settings.experiment_evaluation_interval,
                  settings.task_queue)  # fmt: skip


async def ensure_experiment_schedule(
    client: Client, settings: Settings
) -> Literal["created", "updated"]:
    return await ensure_schedule(client, EXPERIMENT_SCHEDULE, experiment_schedule(settings))

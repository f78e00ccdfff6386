"""RecommendationTrainingWorkflow runs the training activity; the schedule that starts it."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import ScheduleIntervalSpec
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from journeys.activities.recommendations import RecommendationActivities
from journeys.cli.schedules import TRAINING_SCHEDULE as SCHEDULE_ID
from journeys.cli.schedules import ensure_training_schedule
from journeys.config.settings import Settings
from journeys.vocabulary.recommendation_types import TrainRecommendersInput, TrainRecommendersResult
from journeys.workflows.recommendation_training import RecommendationTrainingWorkflow


async def test_the_workflow_trains_every_kind(
    skipping_env: WorkflowEnvironment, shop: str, task_queue: str
) -> None:
    acts = RecommendationActivities(shop)
    with ThreadPoolExecutor(2) as executor:
        async with Worker(
            skipping_env.client,
            task_queue=task_queue,
            workflows=[RecommendationTrainingWorkflow],
            activities=[acts.train_recommenders],
            activity_executor=executor,
        ):
            result = await skipping_env.client.execute_workflow(
                RecommendationTrainingWorkflow.run,
                TrainRecommendersInput(half_life_days=3),
                id=f"train-{task_queue}",
                task_queue=task_queue,
                result_type=TrainRecommendersResult,
            )
    assert set(result.versions) == {
        "trending", "people_like_you", "related", "bought_together", "similar"
    }  # fmt: skip


async def test_the_schedule_is_created_then_updated_keeping_a_pause(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    settings = Settings(task_queue=task_queue, recommendation_training_interval="6h")  # type: ignore[arg-type]
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        await handle.delete()
    except Exception:  # noqa: BLE001  (none yet)
        pass
    try:
        assert await ensure_training_schedule(client, settings) == "created"
        await handle.pause(note="maintenance")
        faster = settings.model_copy(
            update={"recommendation_training_interval": timedelta(hours=1)}
        )
        assert await ensure_training_schedule(client, faster) == "updated"
        described = await handle.describe()
        assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(hours=1))]
        assert described.schedule.state.paused
        assert described.schedule.action.task_queue == task_queue  # type: ignore[union-attr]
    finally:
        await handle.delete()

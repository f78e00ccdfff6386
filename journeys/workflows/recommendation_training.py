"""RecommendationTrainingWorkflow: trains every recommender once (the `train_recommenders`
activity), started by the Temporal Schedule `recommendation-training`
(cli/schedules.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import TRAIN_RECOMMENDERS
    from journeys.vocabulary.recommendation_types import (
        TrainRecommendersInput,
        TrainRecommendersResult,
    )


@workflow.defn
class RecommendationTrainingWorkflow:
    @workflow.run
    async def run(self, input: TrainRecommendersInput) -> TrainRecommendersResult:
        return await TRAIN_RECOMMENDERS.run(
            input,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=30)),
        )

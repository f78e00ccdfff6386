"""ExperimentEvaluationWorkflow: promotes the winners of experiments that reached their
threshold (one activity, `evaluate_experiments`), started by the Temporal Schedule
`experiment-evaluation` (cli/schedules.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import EVALUATE_EXPERIMENTS
    from journeys.vocabulary.experiment_types import (
        EvaluateExperimentsInput,
        EvaluateExperimentsResult,
    )


@workflow.defn
class ExperimentEvaluationWorkflow:
    @workflow.run
    async def run(self, input: EvaluateExperimentsInput) -> EvaluateExperimentsResult:
        return await EVALUATE_EXPERIMENTS.run(
            input,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=5)),
        )

"""ClvFitWorkflow: the scheduled CLV fit (one `fit_clv` activity, started by the Temporal
Schedule `clv-fit`, cli/schedules.py). The predictions become traits; the next segment
refresh (or the customer's next event) moves customers into segments such as churn_risk."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import FIT_CLV
    from journeys.vocabulary.kpi_types import ClvFitInput, ClvFitResult

FIT_TIMEOUT = timedelta(hours=2)
# The activity heartbeats after reading, fitting and each batch of traits: a worker that died
# is noticed within this, and the retry resumes after the last batch written.
FIT_HEARTBEAT = timedelta(minutes=5)


@workflow.defn
class ClvFitWorkflow:
    @workflow.run
    async def run(self, input: ClvFitInput) -> ClvFitResult:
        # the start time, fixed in history: every attempt fits the same orders, finds the same
        # stored version and writes the same traits
        as_of = input.as_of or workflow.now()
        return await FIT_CLV.run(
            input.model_copy(update={"as_of": as_of}),
            start_to_close_timeout=FIT_TIMEOUT,
            heartbeat_timeout=FIT_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=5)),
        )

"""BacktestWorkflow (`backtest-{id}`): one `run_backtest` activity, so a backtest asked for
through the API survives a worker restart (the activity runs again) and an operator can see
and cancel it in the Temporal UI; cancelling keeps the partial report."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import RUN_BACKTEST
    from journeys.vocabulary.backtest_types import BACKTEST_WORKFLOW, BacktestInput, BacktestResult

# CDNOW's 23,570 customers over 18 months take about an hour at 3,700 customer-days a second
BACKTEST_TIMEOUT = timedelta(hours=12)
BACKTEST_HEARTBEAT = timedelta(minutes=2)  # the activity beats every 10 s


@workflow.defn(name=BACKTEST_WORKFLOW)
class BacktestWorkflow:
    @workflow.run
    async def run(self, input: BacktestInput) -> BacktestResult:
        return await RUN_BACKTEST.run(
            input,
            start_to_close_timeout=BACKTEST_TIMEOUT,
            heartbeat_timeout=BACKTEST_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_attempts=3),
            # the activity keeps the partial report before the workflow closes
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

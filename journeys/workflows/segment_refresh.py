"""SegmentRefreshWorkflow: the scheduled batch evaluation of every segment (one activity, run
by the `segment-refresh` Temporal Schedule, cli/schedules.py)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import REFRESH_SEGMENTS
    from journeys.vocabulary.segment_types import SegmentRefreshInput, SegmentRefreshResult

REFRESH_TIMEOUT = timedelta(hours=2)
# The activity heartbeats after each segment and each batch of signals; a worker that died
# is noticed within this, and the retry resumes from the last heartbeat.
REFRESH_HEARTBEAT = timedelta(minutes=2)


@workflow.defn
class SegmentRefreshWorkflow:
    @workflow.run
    async def run(self, input: SegmentRefreshInput) -> SegmentRefreshResult:
        as_of = input.as_of or workflow.now()
        return await REFRESH_SEGMENTS.run(
            SegmentRefreshInput(as_of=as_of),
            start_to_close_timeout=REFRESH_TIMEOUT,
            heartbeat_timeout=REFRESH_HEARTBEAT,
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=5)),
        )

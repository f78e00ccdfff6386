"""Workflow code that recorded histories must not replay against."""

from datetime import timedelta

from temporalio import workflow

from journeys.vocabulary.journey_types import JourneyInput


@workflow.defn(name="JourneyWorkflow", sandboxed=False)  # test code: no sandbox
class ChangedJourneyWorkflow:
    """A deliberately non-deterministic edit: a timer first, where recorded runs did an activity."""

    @workflow.run
    async def run(self, input: JourneyInput) -> None:
        await workflow.sleep(timedelta(seconds=1))

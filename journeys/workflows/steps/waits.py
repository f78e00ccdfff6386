"""Wait steps: `wait` (a duration), `wait_until` (a local time of day) and `wait_for_event`
(an event that arrived since entry, or with `since: step` since the run reached the step, or
arrives before the timeout; in the same workflow task as the timeout, the event wins)."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.journey_spec import EventMatch, Wait, WaitForEvent, WaitUntil
    from journeys.vocabulary.local_time import until_local, utc_minute, zone_or
    from journeys.workflows.steps.run import JourneyRun


class Waits:
    def __init__(self, run: JourneyRun) -> None:
        self.run = run
        self.earlier: set[str] = set()  # the events the current `since: step` wait leaves aside

    async def wait(self, step: Wait) -> None:
        self.run.show(f"step **{step.id}**, until {utc_minute(workflow.now() + step.duration)}")
        await self.run.sleep(step.duration)

    async def wait_until(self, step: WaitUntil) -> None:
        traits = await self.run.traits()
        zone = zone_or(traits.get("timezone"), step.default_tz)
        wait = until_local(workflow.now(), step.time, zone)
        self.run.show(f"step **{step.id}**, until {utc_minute(workflow.now() + wait)}")
        await self.run.sleep(wait)

    async def wait_for_event(self, step: WaitForEvent) -> bool:
        """True when the event came (it becomes the run's last event), False on timeout."""
        run = self.run
        match = EventMatch(event=step.event, where=step.where, correlate=step.correlate)
        # `since: step`: what arrived before the run got here does not count
        self.earlier = {e.message_id for e in run.events} if step.since == "step" else set()
        if self._find(match) is None:  # about to wait: the store should know where the run is
            limit = f" until {utc_minute(workflow.now() + step.timeout)}" if step.timeout else ""
            run.show(f"step **{step.id}**, waiting for {step.event}{limit}")
            await run.park()
        try:
            await workflow.wait_condition(
                lambda: self._find(match) is not None or run.outcome is not None,
                timeout=step.timeout,
            )
        except TimeoutError:
            pass
        index = self._find(match)  # checked again: an event in the same task beats the timeout
        if index is None:
            return False
        run.last_event = run.events.pop(index)  # each event satisfies one wait
        return True

    def _find(self, match: EventMatch) -> int | None:
        for index, event in enumerate(self.run.events):
            if event.message_id not in self.earlier and self.run.matches(match, event):
                return index
        return None

"""One journey run's state and what every step family shares: the durable, interruptible sleep,
the pause, the goal and exit checks, what conditions read, and the run's records.

JourneyWorkflow's signals write here and its steps read here, so the contract between them is
this class, not attributes a mixin hopes for.
"""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary import search_attributes as sa
    from journeys.vocabulary.activity_refs import (
        CUSTOMER_PROFILE,
        CUSTOMER_TRAITS,
        JOURNEY_PAUSED,
        RECORD_JOURNEY_EVENTS,
    )
    from journeys.vocabulary.events import CustomerEvent
    from journeys.vocabulary.goals import event_context, event_matches, goal_or_exit
    from journeys.vocabulary.journey_spec import EventMatch, JourneySpec
    from journeys.vocabulary.journey_types import (
        JourneyEnded,
        JourneyInput,
        JourneyProgress,
        JourneyRecordInput,
        JourneyRecordsInput,
        LoadSpecInput,
        OperatorCommand,
        Outcome,
        ProfileInput,
        RecordKind,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)
PAUSE_CHECK = timedelta(minutes=10)  # a journey-wide pause: how often the run asks the store


class JourneyRun:
    def __init__(self, input: JourneyInput) -> None:
        self.input = input
        self.spec: JourneySpec | None = input.spec
        self.entered_at = input.entered_at or workflow.now()
        self.events: list[CustomerEvent] = []  # received since entry, in order
        self.received: set[str] = set()  # their message ids: an event passed twice counts once
        self.used: set[int] = set()  # indexes of events a wait_for_event already matched
        self.last_event = input.trigger_event
        self.outcome: Outcome | None = None
        self.exit_reason = ""
        self.progress = JourneyProgress(
            name=input.name, version=input.version, customer_id=input.customer_id, current_step=None
        )
        self.visits: dict[str, int] = {}
        self.records = 1 if input.entered_at else 0  # a held run's customer wrote `entered`
        self.unwritten: list[JourneyRecordInput] = []  # noted, not yet in the store
        self.paused: OperatorCommand | None = None

    def visit_id(self, step_id: str) -> str:
        """This visit of the step, unique in the run: the key of what the visit sends or asks."""
        return f"{workflow.info().workflow_id}:{step_id}:{self.visits[step_id]}"

    # -- waiting -----------------------------------------------------------------------------

    async def park(self) -> None:
        """Before the run waits for time, an event, a person or an operator: the store gets the
        records noted, and the JourneyStep search attribute the step the run waits at (only
        here: an upsert is a history event, and a step that passes in moments needs none)."""
        if self.progress.current_step:
            upsert_changed(sa.JOURNEY_STEP.value_set(self.progress.current_step))
        await self.write_records()

    async def sleep(self, duration: timedelta) -> None:
        """A durable timer that a goal or an exit interrupts."""
        await self.park()
        try:
            await workflow.wait_condition(lambda: self.outcome is not None, timeout=duration)
        except TimeoutError:
            pass

    def pause(self, command: OperatorCommand) -> None:
        self.paused = command
        self.progress.paused = command.reason or "paused by an operator"

    def resume(self) -> None:
        self.paused = None
        self.progress.paused = None

    async def wait_while_paused(self) -> None:
        """Wait in place until resumed or ended. A journey-wide pause is also lifted by the run
        itself once the journey is no longer paused, checked every PAUSE_CHECK: a resume
        broadcast can miss a run that started a moment before it."""
        assert self.paused is not None
        await self.park()
        workflow.set_current_details(
            f"{self.input.name} v{self.input.version}: paused ({self.progress.paused})"
        )
        while self.paused is not None and self.outcome is None:
            try:
                await workflow.wait_condition(
                    lambda: self.paused is None or self.outcome is not None, timeout=PAUSE_CHECK
                )
            except TimeoutError:
                if self.paused.journey_wide and not await JOURNEY_PAUSED.run_local(
                    LoadSpecInput(name=self.input.name, version=self.input.version),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                ):
                    self.resume()

    # -- goal, exits and what conditions read ------------------------------------------------

    def matches(self, match: EventMatch, event: CustomerEvent) -> bool:
        return event_matches(match, event, trigger=self.input.trigger_event, stage=self.input.stage)

    def check_goal_and_exits(self, event: CustomerEvent) -> None:
        assert self.spec is not None
        outcome = goal_or_exit(
            self.spec,
            event,
            trigger=self.input.trigger_event,
            stage=self.input.stage,
            entered_at=self.entered_at,
            now=workflow.now(),
        )
        if outcome is not None:
            self.outcome = outcome

    def event_context(self, event: CustomerEvent | None) -> dict[str, Any]:
        return event_context(event, self.input.stage)

    async def traits(self) -> dict[str, Any]:
        return await CUSTOMER_TRAITS.run_local(
            ProfileInput(customer_id=self.input.customer_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    async def context(self) -> dict[str, Any]:
        """What a branch condition reads: the event, the customer's traits and segments, and
        the stage the customer is in now (the one at entry until the store has one)."""
        profile = await CUSTOMER_PROFILE.run_local(
            ProfileInput(customer_id=self.input.customer_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        context = self.event_context(self.last_event)
        context.update(traits=profile.traits, segments=profile.segments)
        if profile.stage is not None:
            context["stage"] = profile.stage
        return context

    # -- records -----------------------------------------------------------------------------

    def record(self, kind: RecordKind, step: str | None = None, detail: str = "") -> None:
        """Note a record of the run's progress. Records are written together — with the run's
        next send, or before it waits or ends — not each by an activity of its own (which made
        a third of a run's history); so the store lags a running step by moments, never a wait."""
        self.records += 1
        self.unwritten.append(
            self.input.record(
                kind,
                workflow_id=workflow.info().workflow_id,
                seq=self.records,
                at=workflow.now(),
                step=step,
                detail=detail,
            )
        )

    def take_records(self) -> list[JourneyRecordInput]:
        """The records not yet written, for an activity that writes them with its own work."""
        taken, self.unwritten = self.unwritten, []
        return taken

    async def write_records(self, ended: JourneyEnded | None = None) -> None:
        """Write the records noted (a local activity); with `ended`, the run's last, and its
        customer is told the run ended, by the same activity."""
        if not self.unwritten and ended is None:
            return
        records = self.take_records()
        summary = ", ".join(r.kind + (f" {r.step}" if r.step else "") for r in records)
        await RECORD_JOURNEY_EVENTS.run_local(
            JourneyRecordsInput(
                records=records,
                ended=ended,
                customer_id=self.input.customer_id if ended else None,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"record {summary}" + ("; tell the customer" if ended else ""),
        )


def upsert_changed(*updates: SearchAttributeUpdate[Any]) -> None:
    """Upsert only what differs from the run's search attributes (each upsert is a history
    event)."""
    current = workflow.info().typed_search_attributes
    changed = [u for u in updates if current.get(u.key) != u.value]
    if changed:
        workflow.upsert_search_attributes(changed)

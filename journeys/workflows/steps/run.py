"""One journey run's state and what every step family shares: the durable, interruptible sleep,
the pause, the goal and exit checks, what conditions read, and the run's records.

JourneyWorkflow's signals write here and its steps read here, so the contract between them is
this class, not attributes a mixin hopes for.
"""

from collections import deque
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
    from journeys.vocabulary.goals import (
        branch_context,
        event_context,
        event_matches,
        goal_or_exit,
    )
    from journeys.vocabulary.journey_spec import (
        EVENTS_KEPT,
        EventMatch,
        JourneySpec,
        WaitForEvent,
    )
    from journeys.vocabulary.journey_types import (
        BranchTaken,
        CustomerProfile,
        DeliveryPolicy,
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
        RunCarry,
        StepRecord,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=30)
PAUSE_CHECK = timedelta(minutes=10)  # a journey-wide pause: how often the run asks the store


RECEIVED_KEPT = 500  # message ids a run remembers, so an event passed twice counts once
STEPS_KEPT = 100  # the latest steps in `progress` (the store records every one)


class JourneyRun:
    def __init__(self, input: JourneyInput) -> None:
        self.input = input
        self.spec: JourneySpec | None = input.spec
        self.entered_at = input.entered_at or workflow.now()
        self.local_activities = False  # store work in local activities: decided as the run starts
        # events received that a `wait_for_event` may still take, in order (a goal or an exit
        # is checked as each arrives, so the others need not be kept)
        self.events: list[CustomerEvent] = []
        self.received: deque[str] = deque(maxlen=RECEIVED_KEPT)  # their message ids
        self.last_event = input.trigger_event
        self.outcome: Outcome | None = None
        self.exit_reason = ""
        self.exit_step = False  # the outcome is an `exit` step's: the run went to its end
        self.progress = JourneyProgress(
            name=input.name, version=input.version, customer_id=input.customer_id, current_step=None
        )
        self.visits = self.progress.visits  # the same dict: the progress query shows them
        self.records = 1 if input.entered_at else 0  # a held run's customer wrote `entered`
        self.unwritten: list[JourneyRecordInput] = []  # noted, not yet in the store
        self.step_written = False  # the step that just ran wrote its own record (a send)
        self.pauses: dict[bool, OperatorCommand] = {}  # by `journey_wide`: either holds it
        # the customer's profile as the last send read it for the step after it (a branch or
        # decide step reads it instead of asking an activity); dropped when the run waits
        self.handed_profile: CustomerProfile | None = None
        self.handed_branch: BranchTaken | None = None  # the branch the last send took
        if input.resume is not None:
            self._resume(input.resume)

    def _resume(self, carry: RunCarry) -> None:
        """Go on where the previous run (of this continue-as-new chain) stood."""
        self.events, self.last_event = list(carry.events), carry.last_event
        self.received.extend(carry.received)
        self.progress, self.records = carry.progress, carry.records
        self.visits = self.progress.visits
        self.pauses = {command.journey_wide: command for command in carry.pauses}
        self.entered_at = carry.entered_at

    def carry(self, step_id: str, delivery: DeliveryPolicy | None,
              products: dict[str, list[dict[str, Any]]]) -> RunCarry:  # fmt: skip
        """What the next run needs to go on at `step_id`."""
        self.progress.generation += 1
        return RunCarry(
            step=step_id, records=self.records, progress=self.progress,
            entered_at=self.entered_at,
            events=self.events, received=list(self.received), last_event=self.last_event,
            pauses=list(self.pauses.values()), delivery=delivery, products=products,
        )  # fmt: skip

    def receive(self, event: CustomerEvent) -> None:
        """An event the customer passed: checked against the goal and exits now, kept if a
        `wait_for_event` step may take it later."""
        if event.message_id in self.received:
            return  # passed again by a retried activity
        self.received.append(event.message_id)
        if self.spec is not None:
            if self.outcome is None:
                self.check_goal_and_exits(event)
            awaited = {s.event for s in self.spec.steps if isinstance(s, WaitForEvent)}
            if event.key not in awaited:
                return
        self.events = [*self.events, event][-EVENTS_KEPT:]

    def note_step(self, record: StepRecord) -> None:
        self.progress.steps = [*self.progress.steps, record][-STEPS_KEPT:]

    def visit_id(self, step_id: str) -> str:
        """This visit of the step, unique in the run: the key of what the visit sends or asks."""
        return f"{workflow.info().workflow_id}:{step_id}:{self.visits[step_id]}"

    def show(self, detail: str) -> None:
        """What the run does now, as the Temporal UI and `journeys inspect` show it (markdown;
        `journeys.client.run_details` reads it back without the run's name)."""
        workflow.set_current_details(f"{self.input.name} v{self.input.version}: {detail}")

    # -- waiting -----------------------------------------------------------------------------

    async def park(self) -> None:
        """Before the run waits for time, an event, a person or an operator: the store gets the
        records noted, and the JourneyStep search attribute the step the run waits at (only
        here: an upsert is a history event, and a step that passes in moments needs none)."""
        self.handed_profile = self.handed_branch = None  # read before the wait: stale after it
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

    @property
    def paused(self) -> OperatorCommand | None:
        """What holds the run, if anything: an operator's pause of this run, else the whole
        journey's. The two are independent: either holds the run, and a resume lifts only
        its own kind (a journey-wide resume leaves an operator's pause of one run in place)."""
        return self.pauses.get(False) or self.pauses.get(True)

    def pause(self, command: OperatorCommand) -> None:
        self.pauses[command.journey_wide] = command
        self._show_pause()

    def resume(self, command: OperatorCommand) -> None:
        self.pauses.pop(command.journey_wide, None)
        self._show_pause()

    def _show_pause(self) -> None:
        held = self.paused
        self.progress.paused = (held.reason or "paused by an operator") if held else None

    async def wait_while_paused(self) -> None:
        """Wait in place until resumed or ended. A journey-wide pause is also lifted by the run
        itself once the journey is no longer paused, checked every PAUSE_CHECK: a resume
        broadcast can miss a run that started a moment before it."""
        assert self.paused is not None
        await self.park()
        self.show(f"paused ({self.progress.paused})")
        while self.paused is not None and self.outcome is None:
            try:
                await workflow.wait_condition(
                    lambda: self.paused is None or self.outcome is not None, timeout=PAUSE_CHECK
                )
            except TimeoutError:
                if True in self.pauses and not await JOURNEY_PAUSED.run_store(
                    LoadSpecInput(name=self.input.name, version=self.input.version),
                    local=self.local_activities,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                ):
                    self.resume(OperatorCommand(journey_wide=True))

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
        )
        if outcome is not None:
            self.outcome = outcome
            if outcome == "exited":  # the rule's event names why (the backtest's `exits`)
                self.exit_reason = event.key

    def event_context(self, event: CustomerEvent | None) -> dict[str, Any]:
        return event_context(event, self.input.stage)

    async def traits(self) -> dict[str, Any]:
        return await CUSTOMER_TRAITS.run_store(
            ProfileInput(customer_id=self.input.customer_id),
            local=self.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    async def context(self) -> dict[str, Any]:
        """What a branch condition reads: the event, the customer's traits and segments, and
        the stage the customer is in now (the one at entry until the store has one): as the
        send just before read it, else by an activity."""
        profile, self.handed_profile = self.handed_profile, None
        if profile is None:
            profile = await CUSTOMER_PROFILE.run_store(
                ProfileInput(customer_id=self.input.customer_id),
                local=self.local_activities,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        return branch_context(self.event_context(self.last_event), profile)

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

    def step_record(self, step: str, detail: str, ahead: int = 0) -> JourneyRecordInput:
        """The record of the running step (with `ahead`, of a step that far after it, taken by
        the same activity), numbered after those noted so far, for an activity that writes it
        with its own work (its detail completed by what it did)."""
        return self.input.record(
            "step",
            workflow_id=workflow.info().workflow_id,
            seq=self.records + 1 + ahead,
            at=workflow.now(),
            step=step,
            detail=detail,
        )

    def step_recorded(self) -> None:
        """The running step's activity wrote the step's record (`step_record`)."""
        self.records += 1
        self.step_written = True

    def take_records(self) -> list[JourneyRecordInput]:
        """The records not yet written, for an activity that writes them with its own work."""
        taken, self.unwritten = self.unwritten, []
        return taken

    async def write_records(self, ended: JourneyEnded | None = None) -> None:
        """Write the records noted (one activity); with `ended`, the run's last, and its
        customer is told the run ended, by the same activity (which withdraws the popovers
        still waiting when the run was cut short)."""
        if not self.unwritten and ended is None:
            return
        records = self.take_records()
        summary = ", ".join(r.kind + (f" {r.step}" if r.step else "") for r in records)
        await RECORD_JOURNEY_EVENTS.run_store(
            JourneyRecordsInput(
                records=records,
                ended=ended,
                customer_id=self.input.customer_id if ended else None,
                cut_short=ended is not None and self.outcome != "completed" and not self.exit_step,
            ),
            local=self.local_activities,
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

"""The customer workflow's journey duties: know the catalog, decide which runs to start when a
trigger matches, queue for runs in flight the later events they react to, free a journey when
its run ends; and hold the first step of a run when it is a wait.

Runs are workflows of their own (not children: a customer continues-as-new many times in its
life and its journeys must outlive each run). What the router decides in a drain — starts and
events to pass — the customer's store activity carries out after the store writes
(`activities/runs.py`): a start as a workflow command cost the customer about nine history
events and two workflow tasks, the activity costs it none of its own.

A run whose first step is a wait (cart recovery's hour of grace) is held: the customer keeps
the wait on one timer of its own and starts the run when it ends, at its second step. The goal
or an exit met meanwhile ends the run unstarted, with the records it would have written — most
checkouts end in an order, and a run started only to be stopped cost some twenty history
events across two workflows.
"""

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import LOAD_JOURNEY_CATALOG
    from journeys.vocabulary.customer_types import (
        ActiveJourney,
        CustomerJourneys,
        EntryDecision,
        HeldRun,
    )
    from journeys.vocabulary.events import CustomerEvent, Stage
    from journeys.vocabulary.goals import goal_or_exit
    from journeys.vocabulary.ids import journey_workflow_id
    from journeys.vocabulary.journey_spec import JourneySpec, Wait
    from journeys.vocabulary.journey_types import (
        DeliveryPolicy,
        JourneyCatalog,
        JourneyEnded,
        JourneyExit,
        JourneyInput,
        JourneyRecordInput,
        JourneyTrigger,
        OperatorCommand,
        Outcome,
        Reassign,
        RecordKind,
        RunEvents,
        RunStart,
    )
    from journeys.vocabulary.patches import PATHS
    from journeys.vocabulary.triggers import entry_refusal, refusal_kind, trigger_matches
    from journeys.workflows.journey import JourneyWorkflow

DECISIONS_KEPT = 20
HELD_EVENTS = 100  # events a held run keeps for its later steps (its state stays bounded)
ACTIVITY_TIMEOUT = timedelta(seconds=30)


class JourneyRouter:
    def __init__(self, customer_id: str, journeys: CustomerJourneys) -> None:
        self.customer_id = customer_id
        self.journeys = journeys
        self.epoch = 1  # the customer's life: its run sets it before the first drain
        self.wanted_catalog = 0
        self.starts: list[RunStart] = []  # decided, not yet started
        self.outbox: dict[str, list[CustomerEvent]] = {}  # journey workflow id -> events to pass
        self.records: list[JourneyRecordInput] = []  # of held runs, for the store activity
        self.delivery: DeliveryPolicy | None = None  # handed to the runs it starts
        self.local_activities = False  # the customer run's choice, handed on the same way
        # the specs of the catalog this run loaded (not kept in state: after continue-as-new a
        # run started before the next catalog load loads its spec itself)
        self.specs: dict[str, JourneySpec] = {}

    @property
    def involved(self) -> bool:
        """Whether this customer has ever dealt with journeys (decides journey commands)."""
        return self.journeys.catalog_version > 0

    async def refresh_catalog(self) -> None:
        if self.wanted_catalog <= self.journeys.catalog_version:
            return
        # never in a customer's first task (docs/versioning.md); local only where the run is
        catalog = await LOAD_JOURNEY_CATALOG.run_store(
            local=self.local_activities, start_to_close_timeout=ACTIVITY_TIMEOUT
        )
        self.take_catalog(catalog)

    def take_catalog(self, catalog: JourneyCatalog) -> None:
        """The catalog loaded by `refresh_catalog`, or handed by the run's first activity."""
        self.journeys.catalog_version = max(catalog.version, self.wanted_catalog)
        self.journeys.triggers = catalog.journeys
        self.journeys.segments_defined = catalog.segments
        self.specs = catalog.specs

    @property
    def has_orders(self) -> bool:
        """Starts, events or records waiting for the customer's store activity."""
        return bool(self.starts or self.outbox or self.records)

    def on_event(self, event: CustomerEvent, stage: Stage, previous: Stage) -> bool:
        """Queue the event for runs in flight (or end a held run by it), then decide the runs
        it triggers (started by the next store activity). True when the set of active journeys
        changed."""
        changed = False
        for name in list(self.journeys.active):
            changed |= self._pass(name, event)
        for trigger in self.journeys.triggers:
            if not trigger_matches(trigger, event, stage, previous):
                continue
            refusal = entry_refusal(trigger, self.journeys, workflow.now())
            self._decide(trigger.name, refusal)
            if refusal is None:
                self._start(trigger, event, stage)
                changed = True
        return changed

    def _pass(self, name: str, event: CustomerEvent) -> bool:
        """Queue the event for the run in flight (or judge it for a held run), if the run can
        react to it. True when that ended a held run."""
        run = self.journeys.active.get(name)
        if run is None or not _reacts(run, event):
            return False
        if event.key in run.listen_limits:
            run.passed[event.key] = run.passed.get(event.key, 0) + 1
        if name in self.journeys.held:
            return self._hold_event(name, event)
        self.outbox.setdefault(run.workflow_id, []).append(event)
        return False

    def listening(self, names: list[str], events: list[CustomerEvent]) -> bool:
        """Whether any of these runs reacts to any of these events."""
        runs = [self.journeys.active[name] for name in names if name in self.journeys.active]
        return any(_reacts(run, event) for run in runs for event in events)

    def catch_up(self, names: list[str], events: list[CustomerEvent]) -> bool:
        """Pass runs adopted from a merged customer the events this customer applied while the
        merge was on its way (a sign-up sent with the identify that asked for the merge). True
        when that ended a held run."""
        changed = False
        for event in events:
            for name in names:
                changed |= self._pass(name, event)
        return changed

    def _start(self, trigger: JourneyTrigger, event: CustomerEvent, stage: Stage) -> None:
        name, version = trigger.name, trigger.version
        run = self.journeys.entries.get(name, 0) + 1
        workflow_id = journey_workflow_id(name, self.customer_id, run, self.epoch)
        self.journeys.entries[name] = run
        info = workflow.info()
        start = RunStart(
            workflow_id=workflow_id,
            input=JourneyInput(
                customer_id=self.customer_id,
                name=name,
                version=version,
                run=run,
                trigger_event=event,
                stage=stage,
                paused=trigger.paused,
                delivery=self.delivery,
                local_activities=self.local_activities,
                paths=PATHS,
                spec=self.specs.get(name),  # the catalog's, of this very version
            ),
            task_queue=info.task_queue,
            lineage=info.first_execution_run_id,
            summary=f"{name} v{version} for customer {self.customer_id}",
        )
        self.journeys.active[name] = ActiveJourney(
            name=name,
            version=version,
            workflow_id=workflow_id,
            entered_at=workflow.now(),
            listens=trigger.listens,
            listen_delays=trigger.listen_delays,
            listen_limits=trigger.listen_limits,
        )
        spec = start.input.spec
        first = spec.steps[0] if spec else None
        if not isinstance(first, Wait) or trigger.paused:  # a paused entry waits before it
            self.starts.append(start)
            return
        start.input.entered_at = workflow.now()
        self.journeys.held[name] = HeldRun(start=start, until=workflow.now() + first.duration)
        self._note(start.input, workflow_id, "entered", detail=f"v{version}")

    # -- held runs: the customer keeps a run's first wait ------------------------------------

    def _hold_event(self, name: str, event: CustomerEvent) -> bool:
        """What the run would do with the event during its first wait: end by its goal or an
        exit (True), or keep the event for a later `wait_for_event`."""
        held = self.journeys.held[name]
        run = held.start.input
        assert run.spec is not None and run.entered_at is not None
        outcome = goal_or_exit(
            run.spec,
            event,
            trigger=run.trigger_event,
            stage=run.stage,
            entered_at=run.entered_at,
        )
        if outcome is None:
            held.events = [*held.events, event][-HELD_EVENTS:]
            return False
        self._end_held(name, outcome, event.key if outcome == "exited" else "")
        return True

    def _end_held(self, name: str, outcome: Outcome, reason: str = "") -> None:
        """End a held run as a run interrupted in its first step would, and free its journey."""
        held = self.journeys.held.pop(name)
        self._note_end(held, outcome, reason)
        self.ended(JourneyEnded(name=name, workflow_id=held.start.workflow_id, outcome=outcome,
                                at=workflow.now()))  # fmt: skip

    def _note_end(self, held: HeldRun, outcome: Outcome, reason: str = "") -> None:
        """The records a run interrupted in its first step writes."""
        run, workflow_id = held.start.input, held.start.workflow_id
        assert run.spec is not None
        first = run.spec.steps[0].id
        self._note(run, workflow_id, "step", step=first, detail=f"interrupted: {outcome}")
        self._note(run, workflow_id, outcome, detail=reason or first)

    def _note(
        self,
        run: JourneyInput,
        workflow_id: str,
        kind: RecordKind,
        step: str | None = None,
        detail: str = "",
    ) -> None:
        """A record of a held run, numbered as the run numbers its own: `entered` is 1, the
        run goes on from 2; ended unstarted, its step and outcome are 2 and 3."""
        seq = {"entered": 1, "step": 2}.get(kind, 3)
        self.records.append(
            run.record(
                kind,
                workflow_id=workflow_id,
                seq=seq,
                at=workflow.now(),
                step=step,
                detail=detail,
                customer_id=self.customer_id,  # also for a merged customer's run it ends
            )
        )

    async def exit(self, command: JourneyExit) -> bool:
        """An operator's exit: a held run ends here, a started one is told (`exit`). True when
        the set of active journeys changed."""
        reason = f"exited by an operator: {command.reason or 'no reason given'}"
        if command.journey in self.journeys.held:
            self._end_held(command.journey, "exited", reason)
            return True
        run = self.journeys.active.get(command.journey)
        if run is not None:
            try:
                await workflow.get_external_workflow_handle(run.workflow_id).signal(
                    JourneyWorkflow.operator_exit, OperatorCommand(reason=command.reason)
                )
            except ApplicationError:  # ended meanwhile
                pass
        return False

    def release_due(self) -> bool:
        """Start the held runs whose wait is over, and pass them the events they kept. True
        when one was released."""
        now, released = workflow.now(), False
        for name, held in list(self.journeys.held.items()):
            if held.until <= now:
                released = True
                del self.journeys.held[name]
                self.starts.append(held.start)
                if held.events:
                    workflow_id = held.start.workflow_id
                    self.outbox[workflow_id] = [*held.events, *self.outbox.get(workflow_id, [])]
        return released

    def next_release(self) -> datetime | None:
        """When the earliest held run starts."""
        return min((held.until for held in self.journeys.held.values()), default=None)

    def take_orders(self) -> tuple[list[RunStart], list[RunEvents], list[JourneyRecordInput]]:
        """What the store activity is to do: held runs' records, starts, then events to pass."""
        starts, self.starts = self.starts, []
        outbox, self.outbox = self.outbox, {}
        records, self.records = self.records, []
        passes = [RunEvents(workflow_id=w, events=events) for w, events in outbox.items()]
        return starts, passes, records

    def settle(self, refused: list[str], gone: list[str]) -> bool:
        """Take in what the store activity found: runs whose id another run held (not started),
        runs that ended before their events came (normally their `journey_ended` frees them, but
        a terminated run never says so). True when the set of active journeys changed."""
        for name, run in list(self.journeys.active.items()):
            if run.workflow_id in refused:
                del self.journeys.active[name]  # a customer recreated from scratch reuses numbers
                self._decide(name, f"run id {run.workflow_id} already in use")
            elif run.workflow_id in gone:
                workflow.logger.info("journey run gone", extra={"customer_id": self.customer_id})
                self.ended(JourneyEnded(name=name, workflow_id=run.workflow_id,
                                        outcome="exited", at=workflow.now()))  # fmt: skip
        return bool(refused or gone)

    def _decide(self, name: str, refusal: str | None) -> None:
        decision = EntryDecision(
            journey=name, at=workflow.now(), entered=refusal is None, reason=refusal or "entered"
        )
        self.journeys.decisions = [*self.journeys.decisions, decision][-DECISIONS_KEPT:]
        if refusal is not None:
            counts = self.journeys.refused.setdefault(name, {})
            kind = refusal_kind(refusal)
            counts[kind] = counts.get(kind, 0) + 1

    def adopt(self, other: CustomerJourneys) -> list[str]:
        """Take over a merged customer's journey history and runs in flight (one per journey:
        where both have a run, ours stays active). Returns the adopted runs' workflow ids."""
        adopted = []
        for name, run in other.active.items():
            held = other.held.get(name)
            if name in self.journeys.active:
                if held is not None:  # ours stays; theirs never starts
                    self._note_end(held, "exited", "merged: already in this journey")
                continue
            self.journeys.active[name] = run
            if held is not None:  # not started yet: it starts as ours
                held.start.input.customer_id = self.customer_id
                held.start.lineage = workflow.info().first_execution_run_id
                self.journeys.held[name] = held
            else:
                adopted.append(run.workflow_id)
        for name, count in other.entries.items():
            self.journeys.entries[name] = self.journeys.entries.get(name, 0) + count
        for name, ended in other.last_ended.items():
            mine = self.journeys.last_ended.get(name)
            self.journeys.last_ended[name] = max(ended, mine) if mine else ended
        for name, counts in other.refused.items():
            ours = self.journeys.refused.setdefault(name, {})
            for kind, count in counts.items():
                ours[kind] = ours.get(kind, 0) + count
        return adopted

    async def reassign(self, workflow_ids: list[str]) -> None:
        """Tell adopted runs who their customer is now, so their end frees the right one."""
        for workflow_id in workflow_ids:
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    JourneyWorkflow.reassign, Reassign(customer_id=self.customer_id)
                )
            except ApplicationError:  # ended meanwhile
                pass

    def ended(self, end: JourneyEnded) -> None:
        run = self.journeys.active.get(end.name)
        if run is not None and run.workflow_id == end.workflow_id:
            del self.journeys.active[end.name]
        self.journeys.last_ended[end.name] = end.at


def _reacts(run: ActiveJourney, event: CustomerEvent) -> bool:
    """Whether the run can react to the event now: its goal, exits and waits name it, it can
    be at a wait that takes it (a `since: step` wait an hour in takes nothing sooner), and it
    has not had as many as its waits can take."""
    if run.listens is not None and event.key not in run.listens:
        return False
    limit = run.listen_limits.get(event.key)
    if limit is not None and run.passed.get(event.key, 0) >= limit:
        return False
    delay = run.listen_delays.get(event.key)
    return delay is None or workflow.now() >= run.entered_at + delay

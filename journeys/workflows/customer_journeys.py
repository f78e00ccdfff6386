"""The customer workflow's journey duties: know the catalog, decide which runs to start when a
trigger matches, queue for runs in flight the later events they react to, free a journey when
its run ends.

Runs are workflows of their own (not children: a customer continues-as-new many times in its
life and its journeys must outlive each run). What the router decides in a drain — starts and
events to pass — the customer's store activity carries out after the store writes
(`activities/runs.py`): a start as a workflow command cost the customer about nine history
events and two workflow tasks, the activity costs it none of its own.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import LOAD_JOURNEY_CATALOG
    from journeys.vocabulary.customer_types import ActiveJourney, CustomerJourneys, EntryDecision
    from journeys.vocabulary.events import CustomerEvent, Stage
    from journeys.vocabulary.ids import journey_workflow_id
    from journeys.vocabulary.journey_spec import JourneySpec
    from journeys.vocabulary.journey_types import (
        DeliveryPolicy,
        JourneyEnded,
        JourneyInput,
        JourneyTrigger,
        Reassign,
        RunEvents,
        RunStart,
    )
    from journeys.vocabulary.triggers import entry_refusal, trigger_matches
    from journeys.workflows.journey import JourneyWorkflow

DECISIONS_KEPT = 20
ACTIVITY_TIMEOUT = timedelta(seconds=30)


class JourneyRouter:
    def __init__(self, customer_id: str, journeys: CustomerJourneys) -> None:
        self.customer_id = customer_id
        self.journeys = journeys
        self.wanted_catalog = 0
        self.starts: list[RunStart] = []  # decided, not yet started
        self.outbox: dict[str, list[CustomerEvent]] = {}  # journey workflow id -> events to pass
        self.delivery: DeliveryPolicy | None = None  # handed to the runs it starts
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
        # local: never in a customer's first task (docs/versioning.md), and one marker, not six
        catalog = await LOAD_JOURNEY_CATALOG.run_local(start_to_close_timeout=ACTIVITY_TIMEOUT)
        self.journeys.catalog_version = max(catalog.version, self.wanted_catalog)
        self.journeys.triggers = catalog.journeys
        self.journeys.segments_defined = catalog.segments
        self.specs = catalog.specs

    @property
    def has_orders(self) -> bool:
        """Starts or events waiting for the customer's store activity."""
        return bool(self.starts or self.outbox)

    def on_event(self, event: CustomerEvent, stage: Stage, previous: Stage) -> bool:
        """Queue the event for runs in flight, then decide the runs it triggers (started by the
        next store activity). True when the set of active journeys changed."""
        for run in self.journeys.active.values():  # only what the run can react to
            if run.listens is None or event.key in run.listens:
                self.outbox.setdefault(run.workflow_id, []).append(event)
        started = False
        for trigger in self.journeys.triggers:
            if not trigger_matches(trigger, event, stage, previous):
                continue
            refusal = entry_refusal(trigger, self.journeys, workflow.now())
            self._decide(trigger.name, refusal)
            if refusal is None:
                self._start(trigger, event, stage)
                started = True
        return started

    def _start(self, trigger: JourneyTrigger, event: CustomerEvent, stage: Stage) -> None:
        name, version = trigger.name, trigger.version
        run = self.journeys.entries.get(name, 0) + 1
        workflow_id = journey_workflow_id(name, self.customer_id, run)
        self.journeys.entries[name] = run
        info = workflow.info()
        self.starts.append(
            RunStart(
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
                    spec=self.specs.get(name),  # the catalog's, of this very version
                ),
                task_queue=info.task_queue,
                lineage=info.first_execution_run_id,
                summary=f"{name} v{version} for customer {self.customer_id}",
            )
        )
        self.journeys.active[name] = ActiveJourney(
            name=name,
            version=version,
            workflow_id=workflow_id,
            entered_at=workflow.now(),
            listens=trigger.listens,
        )

    def take_orders(self) -> tuple[list[RunStart], list[RunEvents]]:
        """What the store activity is to do: starts first, then the events to pass."""
        starts, self.starts = self.starts, []
        outbox, self.outbox = self.outbox, {}
        passes = [RunEvents(workflow_id=w, events=events) for w, events in outbox.items()]
        return starts, passes

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

    def adopt(self, other: CustomerJourneys) -> list[str]:
        """Take over a merged customer's journey history and runs in flight (one per journey:
        where both have a run, ours stays active). Returns the adopted runs' workflow ids."""
        adopted = []
        for name, run in other.active.items():
            if name not in self.journeys.active:
                self.journeys.active[name] = run
                adopted.append(run.workflow_id)
        for name, count in other.entries.items():
            self.journeys.entries[name] = self.journeys.entries.get(name, 0) + count
        for name, ended in other.last_ended.items():
            mine = self.journeys.last_ended.get(name)
            self.journeys.last_ended[name] = max(ended, mine) if mine else ended
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

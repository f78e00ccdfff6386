"""Payloads of JourneyWorkflow and its conversation with CustomerWorkflow (import-light)."""

from datetime import datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.journey_spec import JourneySpec, ReEntry, Trigger

Outcome = Literal["converted", "exited", "completed"]
RecordKind = Literal["entered", "step", "converted", "exited", "completed"]  # an Outcome too


class JourneyTrigger(BaseModel):
    """What a customer workflow needs to know of a published journey to decide entry."""

    name: str
    version: int
    trigger: Trigger
    re_entry: ReEntry
    paused: bool = False  # the whole journey is paused: new runs start paused
    # the event keys its runs react to once in flight (JourneySpec.events_awaited); None: all
    listens: list[str] | None = None
    # of those, the keys it cannot react to until some time after entry
    # (JourneySpec.listen_delays); absent from catalogs made before it: none delayed
    listen_delays: dict[str, timedelta] = Field(default_factory=dict)
    # and the keys it uses only so many of (JourneySpec.listen_limits); absent before it
    listen_limits: dict[str, int] = Field(default_factory=dict)


class JourneyCatalog(BaseModel):
    """The active journeys' triggers, as of one catalog version."""

    version: int
    journeys: list[JourneyTrigger]
    segments: int = 0  # how many segments are active (customers evaluate theirs if any)
    # each trigger's spec, by journey name: a customer hands it to the runs it starts (kept in
    # memory, not in its state), so a run needs no activity to load it
    specs: dict[str, JourneySpec] = Field(default_factory=dict)


class LoadSpecInput(BaseModel):
    name: str
    version: int


class DeliveryPolicy(BaseModel):
    """Worker-wide sending rules a run asks for once: the quiet window of the customer's local
    time (None: none) and the channels it holds back."""

    quiet_start: time | None = None
    quiet_end: time | None = None
    quiet_channels: list[str] = Field(default_factory=lambda: ["email", "sms", "push"])


class JourneyInput(BaseModel):
    customer_id: str
    name: str
    version: int
    run: int  # this customer's n-th entry into this journey: unique across continue-as-new
    trigger_event: CustomerEvent | None = None
    stage: Stage = Stage.AWARENESS
    spec: JourneySpec | None = None  # loaded by the run itself when absent (pinned to `version`)
    paused: bool = False  # entered while the journey was paused: wait before the first step
    delivery: DeliveryPolicy | None = None  # the customer's; asked by the run when absent
    # set when the customer held the run's first step, a wait, itself (customer_journeys.py):
    # the run was entered then, its `entered` record is written, it goes on at the second step
    entered_at: datetime | None = None
    # set by the run's own continue-as-new: where it stood, so the next run goes on from there
    resume: "RunCarry | None" = None
    continue_as_new_after: int = 2000  # history events; a run may live for years (Advocate)
    # in the journey's holdout group (vocabulary.holdouts): decided by the run at entry
    held_out: bool | None = None
    # store work in local activities (a backtest's runs): set by the customer that starts it
    local_activities: bool = False
    # the patches taken without asking (vocabulary.patches.PATHS); 0 in inputs written before
    paths: int = 0

    def record(
        self,
        kind: "RecordKind",
        *,
        workflow_id: str,
        seq: int,
        at: datetime,
        step: str | None = None,
        detail: str = "",
        customer_id: str | None = None,
    ) -> "JourneyRecordInput":
        """A record of this run: written by the run, or by its customer while it holds the
        run's first wait."""
        return JourneyRecordInput(
            workflow_id=workflow_id, seq=seq, customer_id=customer_id or self.customer_id,
            journey=self.name, version=self.version, kind=kind, step=step, detail=detail, at=at,
        )  # fmt: skip


# What callers outside the workflow name (the customer's store activity, `temporal workflow`)
JOURNEY_WORKFLOW = "JourneyWorkflow"
JOURNEY_EVENTS_SIGNAL = "events"
JOURNEY_ENDED_SIGNAL = "journey_ended"
COMPLETE_TASK_UPDATE = "complete_task"


class RunStart(BaseModel):
    """A run a customer decided to start; its store activity starts it, after the store writes
    the run may read. `lineage` (the customer's first run id) tells a retried start apart from
    a run of a predecessor customer that holds the same workflow id."""

    workflow_id: str
    input: JourneyInput
    task_queue: str
    lineage: str
    summary: str = ""


class RunEvents(BaseModel):
    """Events a run in flight awaits, passed on by the customer's store activity."""

    workflow_id: str
    events: list[CustomerEvent]


class StepRecord(BaseModel):
    step: str
    kind: str
    at: datetime
    result: str = ""  # e.g. "timeout", "event", "variant b", "case 1"


class JourneyProgress(BaseModel):
    """The `progress` query: where the run is and how it got there."""

    name: str
    version: int
    customer_id: str
    current_step: str | None
    outcome: Outcome | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    assignments: dict[str, str] = Field(default_factory=dict)  # experiment step -> variant
    paused: str | None = None  # why the run waits in place (an operator's pause), if it does
    visits: dict[str, int] = Field(default_factory=dict)  # times the run entered each step
    generation: int = 0  # continue-as-new so far (steps: the latest STEPS_KEPT only)


class RunCarry(BaseModel):
    """What a journey run hands its next run at continue-as-new, between two steps: the step
    it goes on at, and everything its steps still read or count (`progress` holds the visits
    that number its sends, and the experiment assignments)."""

    step: str
    records: int  # records written so far: the next run numbers on
    entered_at: datetime  # the goal's `within` counts from entry
    progress: "JourneyProgress"
    events: list[CustomerEvent] = Field(default_factory=list)  # unused, a wait may take them
    received: list[str] = Field(default_factory=list)  # the latest message ids (dedup)
    last_event: CustomerEvent | None = None
    pauses: list["OperatorCommand"] = Field(default_factory=list)  # an operator's, the journey's
    delivery: DeliveryPolicy | None = None
    products: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # recommend steps'


class OperatorCommand(BaseModel):
    """Signals `pause`, `resume` and `exit` from an operator (UI, CLI, API). A pause holds the
    run before its next step and before any message goes out; nothing is dropped. With
    `journey_wide`, the pause belongs to the whole journey: the run also lifts it by itself
    once the journey is no longer paused (it checks every few minutes)."""

    reason: str = ""
    journey_wide: bool = False


class JourneyExit(BaseModel):
    """Signal `exit_journey` to a customer: end its run of `journey` as `exit` would, also a run
    held in its first wait (which has no workflow to signal yet)."""

    journey: str
    reason: str = ""


class JourneyEnded(BaseModel):
    """Signal `journey_ended` to the customer: frees the journey for re-entry rules."""

    name: str
    workflow_id: str
    outcome: Outcome
    at: datetime


class JourneyRecordInput(BaseModel):
    """One durable record of a run's progress (entry, step, goal, exit)."""

    workflow_id: str
    seq: int  # the record's position in its run: a retried activity writes it once
    customer_id: str
    journey: str
    version: int
    kind: RecordKind
    step: str | None = None
    detail: str = ""
    at: datetime


class JourneyRecordsInput(BaseModel):
    """Activity input: the records a run noted since it last wrote some, written together;
    with `ended`, the run's last ones, and its customer is told the run ended."""

    records: list[JourneyRecordInput]
    ended: JourneyEnded | None = None
    customer_id: str | None = None  # whom `ended` goes to
    # with `ended`: the run ended before its last step (its goal, an exit rule, an operator),
    # so the popovers it queued that no page has shown are withdrawn
    cut_short: bool = False


class ProfileInput(BaseModel):
    customer_id: str


class CustomerProfile(BaseModel):
    """What branch conditions read of the customer: traits, the segments they are in and the
    lifecycle stage their workflow last reported (None: not reported yet)."""

    traits: dict[str, Any] = Field(default_factory=dict)
    segments: list[str] = Field(default_factory=list)
    stage: str | None = None


class DecisionStatsInput(BaseModel):
    journey: str
    step: str


class ActionStats(BaseModel):
    """Past decisions of one step for one action: how often chosen, how often converted."""

    exposures: int = 0
    conversions: int = 0


class DecisionRecord(BaseModel):
    """Activity input: one `decide` step's choice with everything that led to it, so an
    operator can see why a customer got what they got."""

    decision_id: str  # "{run workflow id}:{step}:{visit}": a retry records it once
    workflow_id: str
    customer_id: str
    journey: str
    version: int
    step: str
    chosen: str | None
    eligible: list[str]
    stats: dict[str, ActionStats]
    samples: dict[str, float]  # Thompson draws of each eligible action's conversion rate
    values: dict[str, float]
    clv: float
    expected: dict[str, float]  # sample x (value + clv)
    at: datetime


class QueueMessageInput(BaseModel):
    """Activity input of a `send` step; `idempotency_key` comes from business identity
    (journey run and step visit), never from the attempt or the activity id."""

    idempotency_key: str
    customer_id: str
    journey: str
    step: str
    channel: str
    template: str
    fallback: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    # the run's records not written yet: they go with the send instead of costing an activity
    records: list[JourneyRecordInput] = Field(default_factory=list)
    held_out: bool = False  # the run is in its journey's holdout group: recorded, not sent
    # set by runs that send in one activity (the patch `send_in_one_activity`): the quiet hours
    # the send checks in the customer's time zone at `at` (held: nothing sent, the run waits and
    # asks again), and the step's own record, written with what became of the send (its detail
    # follows the one given) unless a fallback channel is still to be tried
    quiet: DeliveryPolicy | None = None
    at: datetime | None = None  # the run's clock when it asked: quiet hours are judged at it
    step_record: JourneyRecordInput | None = None
    # the run's next step reads the customer's profile (a branch or decide step): the send
    # returns it (`DeliveryResult.profile`), so that step needs no activity of its own
    profile_wanted: bool = False
    # the run's next step is a branch: the send takes it on that profile and writes its record
    # (`DeliveryResult.branch`), so a run that then waits has nothing left to write first
    branch: "BranchAhead | None" = None


class BranchAhead(BaseModel):
    """The branch step right after a send, for the send to take: its conditions in order, what
    they read besides the profile (`goals.event_context`), and its record, numbered after the
    send's, whose detail the send fills."""

    conditions: list[str]
    context: dict[str, Any]
    record: JourneyRecordInput


class BranchTaken(BaseModel):
    """The branch a send took (`QueueMessageInput.branch`)."""

    case: int | None = None  # the first case whose condition held; None: `otherwise`


class TaskInput(BaseModel):
    """Activity input of a `human_task` step (create), or of its escalation or expiry."""

    task_id: str
    workflow_id: str
    customer_id: str
    journey: str
    step: str
    team: str
    title: str
    outcomes: list[str]
    deadline_at: datetime


class TaskDeadlineInput(BaseModel):
    task_id: str
    escalate_to: str | None = None  # reassign and keep open; None: expire


class TaskState(BaseModel):
    """The store's word on a task after a deadline: a completion that raced the deadline wins."""

    status: str
    outcome: str | None = None


class TaskOutcome(BaseModel):
    """Signal `task_completed`: a person's answer to a `human_task`."""

    task_id: str
    outcome: str


class Reassign(BaseModel):
    """Signal `reassign`: the run's customer was merged into another (alias)."""

    customer_id: str


class GiveUpInput(BaseModel):
    """Activity input: a send the run stopped before it went out, for the ledger."""

    idempotency_key: str
    status: str  # skipped | failed
    reason: str


class DeliveryResult(BaseModel):
    """What became of a send: sent, skipped (with the reason), failed, queued in the outbox
    (no provider for the channel yet), or held (quiet hours: nothing done, ask again after
    `held_for`)."""

    status: str
    reason: str = ""
    held_for: timedelta | None = None
    recorded: bool = False  # the activity wrote the step's record it was given (`step_record`)
    # read after the send when `profile_wanted` (a worker before it: never). The run reads it
    # from the recorded result, so replay takes the path the run took (no patch needed)
    profile: CustomerProfile | None = None
    # the branch after the send, taken by it with its record written (a worker before it, or a
    # send not the step's last: None). Read from the recorded result, like `profile`
    branch: BranchTaken | None = None

    def describe(self, channel: str) -> str:
        """The step's result as runs show and record it: "email sent", "sms skipped (no phone
        number)"."""
        settled = self.status in ("failed", "skipped") and self.reason
        return f"{channel} {self.status}" + (f" ({self.reason})" if settled else "")

    def takes_fallback(self, fallback: str | None) -> bool:
        """Whether the step goes on to its fallback channel (so this was not its last send)."""
        return bool(fallback) and self.allows_fallback

    @property
    def allows_fallback(self) -> bool:
        """A channel that could not deliver (no address, a bounce, a refusal) lets the step try
        its fallback; the customer's consent or a frequency cap says "not now, anywhere"."""
        held = self.reason.startswith(
            ("unsubscribed", "not opted in", "frequency cap", "holdout", "global control")
        )
        return self.status in ("failed", "skipped") and not held


JourneyInput.model_rebuild()  # `resume` names RunCarry, defined below it
QueueMessageInput.model_rebuild()  # `branch` names BranchAhead, defined below it
RunCarry.model_rebuild()

"""Payloads that cross the Temporal boundary for customer workflows.

Import-light on purpose (pydantic only) so the workflow sandbox loads it cheaply. Every
workflow, signal and activity takes one input object, so fields can be added later without
breaking running histories.
"""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.vocabulary.journey_types import (
    DeliveryPolicy,
    JourneyCatalog,
    JourneyRecordInput,
    JourneyTrigger,
    RunEvents,
    RunStart,
)
from journeys.vocabulary.segment_types import SegmentEvaluation, SegmentEvaluationInput


class StageChange(BaseModel):
    stage: Stage
    at: datetime
    cause: str  # the event key, "first_seen", or "merge"


class ActiveJourney(BaseModel):
    name: str
    version: int
    workflow_id: str
    entered_at: datetime
    listens: list[str] | None = None  # the event keys passed on to the run; None: every event
    listen_delays: dict[str, timedelta] = Field(default_factory=dict)  # ... not before then
    listen_limits: dict[str, int] = Field(default_factory=dict)  # ... no more of them than this
    passed: dict[str, int] = Field(default_factory=dict)  # of those limited, how many so far


class HeldRun(BaseModel):
    """A run entered whose first step is a wait: the customer holds the wait (one timer of its
    own, not a workflow) and starts the run when it ends, unless the goal or an exit ended the
    run first, as it does for most checkouts that end in an order."""

    start: RunStart  # with `input.entered_at` set, and the spec
    until: datetime  # the wait's end: the run starts then, at its second step
    events: list[CustomerEvent] = Field(default_factory=list)  # for the run, passed at start


class EntryDecision(BaseModel):
    """Why a customer did or did not enter a journey whose trigger matched."""

    journey: str
    at: datetime
    entered: bool
    reason: str


class CustomerJourneys(BaseModel):
    """The customer's side of journeys: the catalog it knows, runs in flight, entry history."""

    catalog_version: int = 0
    triggers: list[JourneyTrigger] = Field(default_factory=list)
    active: dict[str, ActiveJourney] = Field(default_factory=dict)
    held: dict[str, HeldRun] = Field(default_factory=dict)  # active runs not yet started
    entries: dict[str, int] = Field(default_factory=dict)  # runs started, per journey
    last_ended: dict[str, datetime] = Field(default_factory=dict)
    decisions: list[EntryDecision] = Field(default_factory=list)  # the latest few
    # entries refused, per journey and kind of refusal (refusal_kind): every one, in a few
    # counters, where `decisions` keeps only the latest
    refused: dict[str, dict[str, int]] = Field(default_factory=dict)
    segments_defined: int = 0  # active segments in the catalog: 0 means nothing to evaluate


# Caps that keep a customer's state small for its whole life (docs/architecture.md): the
# state travels whole in every continue-as-new and merge, under the server's 2 MB limit.
STAGE_HISTORY_KEPT = 50  # the latest stage changes; `stage_entries` counts them all
EVENT_NAMES_KEPT = 100  # distinct event names counted; later new names count as OTHER_EVENTS
OTHER_EVENTS = "(other)"
MERGES_KEPT = 10  # the latest customers merged in, and merges asked for


class SegmentsQuiet(BaseModel):
    """The last segment evaluation's word (segment_types.SegmentEvaluation.quiet_events): so
    many more events without traits, order or stage change, before `until`, and with the
    catalog (segment definitions) still at `catalog_version`, change no membership."""

    events: int
    until: datetime | None = None
    catalog_version: int


class CustomerState(BaseModel):
    """What the `state` query returns and continue-as-new carries."""

    customer_id: str
    stage: Stage = Stage.AWARENESS
    stage_history: list[StageChange] = Field(default_factory=list)  # the latest, capped
    stage_entries: dict[Stage, int] = Field(default_factory=dict)  # entries per stage, ever
    at_risk: bool = False
    first_seen_at: datetime | None = None
    last_event_at: datetime | None = None
    events_total: int = 0
    event_counts: dict[str, int] = Field(default_factory=dict)
    merged_from: list[str] = Field(default_factory=list)
    merged_into: str | None = None
    merge_requested: list[str] = Field(default_factory=list)  # asked once each, found or not
    recent_message_ids: list[str] = Field(default_factory=list)  # dedup window: dedup_key()s
    generation: int = 0  # runs of this customer so far; increases at each continue-as-new
    epoch: int = 0  # the customer's life (store: CustomerLife); its journey run ids carry it
    segments: list[str] = Field(default_factory=list)  # the segments the customer is in now
    # when each segment's last entry or exit applied was stamped (older ones are dropped)
    segment_changed_at: dict[str, datetime] = Field(default_factory=dict)
    stages_recorded: int = 0  # how much of stage_history the store has (funnel reports)
    segments_quiet: SegmentsQuiet | None = None  # None: the next event asks the segments again
    journeys: "CustomerJourneys" = Field(default_factory=lambda: CustomerJourneys())


# What callers outside the workflow name (the client, `temporal workflow signal/query`)
CUSTOMER_WORKFLOW = "CustomerWorkflow"
EVENTS_SIGNAL = "events"
STATE_QUERY = "state"


class CustomerInput(BaseModel):
    """Start or continue-as-new input of CustomerWorkflow."""

    customer_id: str
    state: CustomerState | None = None
    pending: list[CustomerEvent] = Field(default_factory=list)
    # History events. Low, because a worker keeps every step's inputs of a cached run until it
    # ends: 1,500 events one per signal cost a cached customer about 1.5 MB at 1,000, 6 MB at
    # 5,000 (measured), and a replay after a restart is five times shorter. A running customer
    # keeps the threshold it started with (its continue-as-new carries it).
    continue_as_new_after: int = 1000
    # the patches taken without asking (vocabulary.patches.PATHS); 0 in inputs written before
    paths: int = 0


class MergeIntoInput(BaseModel):
    """Signal `merge_into`: hand this customer's history to `target_customer_id`."""

    target_customer_id: str


class MergeInput(BaseModel):
    """Signal `merge`: another customer's state and unhandled events joining this one."""

    source_customer_id: str
    state: CustomerState
    pending: list[CustomerEvent] = Field(default_factory=list)


class PropertyTest(BaseModel):
    """A comparison on one event property; all given bounds must hold."""

    gte: float | None = None
    lte: float | None = None
    eq: Any = None


class LifecycleRule(BaseModel):
    """An event moves the customer to `stage` when the customer is in one of `from_stages`
    (any stage when empty, and any stage for a customer at risk of lapsing) and the event's
    properties pass `where`; `min_count`/`max_count` bound how many such events (this one
    included) the customer has sent."""

    event: str
    stage: Stage
    from_stages: list[Stage] = Field(default_factory=list)
    where: dict[str, PropertyTest] = Field(default_factory=dict)
    min_count: int | None = None
    max_count: int | None = None


class LifecycleConfig(BaseModel):
    """What a customer run is given at its start from the worker's settings: the event-to-stage
    mapping, the inactivity period, and the sending rules it hands to the journey runs it
    starts (so a run needs no activity of its own to learn them)."""

    rules: list[LifecycleRule]
    inactivity_days: float = 30.0
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)


class CustomerRunInput(BaseModel):
    """Activity input at the start of each customer run. `epoch` is the customer's life when
    its state already knows it; 0 asks the store to number this life (`lineage`, the
    workflow's first run id, names it)."""

    customer_id: str
    lineage: str
    epoch: int = 0
    # the journey catalog version the customer holds: the activity adds the store's catalog
    # when it is newer, saving the run an activity of its own (None: not asked)
    catalog_version: int | None = None


class CustomerRunSetup(BaseModel):
    """What a customer run starts with: the worker's lifecycle rules and the customer's life."""

    config: LifecycleConfig
    epoch: int
    # the worker's: a backtest's runs keep their store work in local activities (nobody
    # queries them while they are busy); elsewhere a run started since the patch
    # `no_local_activities` runs it as regular activities
    local_activities: bool = False
    # the store's catalog, when newer than the one the input named. Workers before it returned
    # none, and the run then loads the catalog itself: the recorded result decides, so a run
    # replays the way it ran whichever worker ran the activity (no patch needed)
    catalog: JourneyCatalog | None = None


class ProfileUpdateInput(BaseModel):
    """Activity input: an identify's traits or a completed order for the store."""

    customer_id: str
    message_id: str
    at: datetime
    traits: dict[str, Any] = Field(default_factory=dict)
    order: dict[str, Any] | None = None


class StageHistoryInput(BaseModel):
    """Activity input: stage entries the store has not seen yet, oldest first."""

    customer_id: str
    entries: list[StageChange]
    previous: Stage | None = None  # the stage before the first entry


class CustomerChangesInput(BaseModel):
    """Activity input: what a customer's run has to do outside after applying a batch of
    events, in one activity: in one transaction profile changes (traits, orders), stage
    entries, then — if asked — the segment evaluation that reads them; then the journey runs it
    decided to start, then the events runs in flight await."""

    customer_id: str
    profile: list[ProfileUpdateInput] = Field(default_factory=list)
    stages: StageHistoryInput | None = None
    segments: SegmentEvaluationInput | None = None
    starts: list[RunStart] = Field(default_factory=list)
    passes: list[RunEvents] = Field(default_factory=list)
    records: list[JourneyRecordInput] = Field(default_factory=list)  # of held runs


class CustomerChangesResult(BaseModel):
    segments: SegmentEvaluation | None = None  # when the evaluation was asked for
    refused: list[str] = Field(default_factory=list)  # starts whose id another run holds
    gone: list[str] = Field(default_factory=list)  # runs that ended before their events came


class MergeProfilesInput(BaseModel):
    source_customer_id: str
    target_customer_id: str

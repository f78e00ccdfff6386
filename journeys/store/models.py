"""Tables. What the API receives and returns are other classes (api/schemas.py)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Index, LargeBinary, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and read back timezone-aware (UTC) on every back-end.

    SQLite has no time zone type: without this it stores an aware value's wall-clock time,
    dropping the offset (10:00+02:00 came back as naive 10:00, a different instant), and
    returns naive datetimes. Naive values written are taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _time(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Customer(SQLModel, table=True):
    """A customer's profile: merged traits from identify calls."""

    customer_id: str = Field(primary_key=True, max_length=300)
    traits: dict[str, Any] = _json()
    # indexed: a customer's story and a page's popovers look up the ids merged into one
    merged_into: str | None = Field(default=None, index=True, max_length=300)
    created_at: datetime = _time()
    updated_at: datetime = _time()
    # the lifecycle stage the customer's workflow last reported (segments read it in SQL)
    stage: str | None = Field(default=None, max_length=16)


class CustomerLife(SQLModel, table=True):
    """One life of a customer's workflow, named by its first run id (`lineage`) and numbered
    from 1. A customer recreated after its workflow ended (terminated, say) starts a new life,
    and the ids of its journey runs carry the number, so nothing the runs of an earlier life
    recorded or sent is mistaken for theirs."""

    customer_id: str = Field(primary_key=True, max_length=300)
    epoch: int = Field(primary_key=True)
    lineage: str = Field(unique=True, max_length=64)
    started_at: datetime = _time()


class Account(SQLModel, table=True):
    """A Segment `group` (a company, a team, a household): its traits, merged from every
    `group` call that names it."""

    group_id: str = Field(primary_key=True, max_length=300)
    traits: dict[str, Any] = _json()
    updated_at: datetime = _time()


class AccountMember(SQLModel, table=True):
    """A customer in a group, from the customer's `group` calls."""

    customer_id: str = Field(primary_key=True, max_length=300)
    group_id: str = Field(primary_key=True, max_length=300)
    joined_at: datetime = _time()


class Identity(SQLModel, table=True):
    """An anonymousId known to belong to an identified customer (alias / identify with both)."""

    anonymous_id: str = Field(primary_key=True, max_length=300)
    customer_id: str = Field(index=True, max_length=300)
    linked_at: datetime = _time()


class Event(SQLModel, table=True):
    """Every accepted Segment call, idempotent on messageId; `delivered_at` is set once Temporal
    has the signal, so a retry of a delivered message is not signalled again."""

    __table_args__ = (Index("ix_event_customer_time", "customer_id", "timestamp"),)

    message_id: str = Field(primary_key=True, max_length=300)
    customer_id: str = Field(max_length=300)
    type: str = Field(max_length=16)
    event: str | None = Field(default=None, max_length=300)
    user_id: str | None = Field(default=None, max_length=300)
    anonymous_id: str | None = Field(default=None, max_length=300)
    timestamp: datetime = _time()
    received_at: datetime = _time()
    delivered_at: datetime | None = _time(nullable=True)
    payload: dict[str, Any] = _json()


class Product(SQLModel, table=True):
    product_id: str = Field(primary_key=True, max_length=300)
    name: str
    description: str = ""
    category: str = Field(default="", index=True)
    price: float = 0.0


class Order(SQLModel, table=True):
    """A completed order (Segment `Order Completed`), keyed by its order id or messageId."""

    order_id: str = Field(primary_key=True, max_length=300)
    customer_id: str = Field(index=True, max_length=300)
    total: float = 0.0
    currency: str = "USD"
    products: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = _time()


class Journey(SQLModel, table=True):
    """A journey's identity and status; its specs are the JourneyVersion rows under its name."""

    __table_args__ = (
        CheckConstraint("status IN ('active', 'disabled', 'archived')", name="ck_journey_status"),
    )

    name: str = Field(primary_key=True, max_length=64)
    status: str = Field(default="active", max_length=16)
    latest_version: int = 0
    # paused: runs wait in place before their next step (and new ones start waiting)
    paused_at: datetime | None = _time(nullable=True)
    pause_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class JourneyVersion(SQLModel, table=True):
    """One published spec, never changed afterwards: runs carry it as workflow input and must
    find the same spec when an operator looks up the version they run."""

    name: str = Field(primary_key=True, max_length=64, foreign_key="journey.name")
    version: int = Field(primary_key=True)
    spec: dict[str, Any] = _json()
    content_hash: str = Field(max_length=64)
    published_at: datetime = _time()


class Catalog(SQLModel, table=True):
    """A single row (id 1) whose version goes up on every catalog change, so a reader that
    caches the active specs learns with one cheap read whether to load them again."""

    __table_args__ = (CheckConstraint("id = 1", name="ck_catalog_one_row"),)

    id: int = Field(default=1, primary_key=True)
    version: int = 0


RUN_ENDINGS = ("converted", "exited", "completed")  # the JourneyEvent kinds that end a run


class JourneyEvent(SQLModel, table=True):
    """A journey run's durable record: entered, each step with its result, and how it ended."""

    key: str = Field(primary_key=True, max_length=400)  # "{workflow_id}:{seq}"
    workflow_id: str = Field(index=True, max_length=400)
    seq: int
    customer_id: str = Field(index=True, max_length=300)
    journey: str = Field(index=True, max_length=64)
    version: int
    kind: str = Field(max_length=16)  # entered | step | converted | exited | completed
    step: str | None = Field(default=None, max_length=64)
    detail: str = ""
    at: datetime = _time()


class Message(SQLModel, table=True):
    """The outbox: each message a journey asked for, once per idempotency key (run, step,
    visit). Channel delivery takes them from here."""

    idempotency_key: str = Field(primary_key=True, max_length=500)
    customer_id: str = Field(index=True, max_length=300)
    journey: str = Field(max_length=64)
    step: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    template: str = Field(max_length=200)
    fallback: str | None = Field(default=None, max_length=16)
    context: dict[str, Any] = _json()
    category: str = Field(default="marketing", max_length=16)  # marketing | transactional
    status: str = Field(default="queued", max_length=16)  # queued|sending|sent|skipped|failed
    reason: str = ""  # why skipped or failed
    # what went to the provider, composed once: a retry resends these very bytes, so the
    # provider's de-duplication (same key, same body) holds even if traits changed meanwhile
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    sent_at: datetime | None = _time(nullable=True)
    # the browsing session a popover was shown in (its per-session cap)
    served_session: str | None = Field(default=None, index=True, max_length=300)
    # what the provider reported after `sent`: delivered | bounced | complained | failed (a
    # bounce or a failure is not undone by a later "delivered")
    outcome: str | None = Field(default=None, max_length=16)
    outcome_at: datetime | None = _time(nullable=True)
    # first open and first click, the person's and a machine's apart (channels.machine)
    opened_at: datetime | None = _time(nullable=True)
    clicked_at: datetime | None = _time(nullable=True)
    machine_opened_at: datetime | None = _time(nullable=True)
    machine_clicked_at: datetime | None = _time(nullable=True)
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(UTCDateTime(), nullable=False),
    )


class Task(SQLModel, table=True):
    """A human hand-off from a journey (`human_task`): a team completes it with an outcome the
    journey branches on; past its deadline it escalates or expires."""

    task_id: str = Field(primary_key=True, max_length=500)  # "{run workflow id}:{step}:{visit}"
    workflow_id: str = Field(max_length=400)
    customer_id: str = Field(index=True, max_length=300)
    journey: str = Field(max_length=64)
    step: str = Field(max_length=64)
    team: str = Field(index=True, max_length=100)
    title: str
    outcomes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", index=True, max_length=16)  # open|completed|expired
    outcome: str | None = Field(default=None, max_length=100)
    escalated: bool = False
    created_at: datetime = _time()
    deadline_at: datetime = _time()
    completed_at: datetime | None = _time(nullable=True)


class Suppression(SQLModel, table=True):
    """A customer who must get no message at all on a channel ("*": on any channel), not even a
    transactional one: a hard bounce, a spam complaint, an operator's block. Sends check it and
    are recorded as skipped with its reason. Marketing consent is `Subscription`."""

    customer_id: str = Field(primary_key=True, max_length=300)
    channel: str = Field(primary_key=True, max_length=16)
    reason: str = Field(default="unsubscribed", max_length=100)
    created_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(UTCDateTime(), nullable=False),
    )


class Subscription(SQLModel, table=True):
    """A customer's word on marketing messages for one subscription group: a channel and a topic,
    either of them "*" for all. The most specific row wins; with none, opt-out topics are sent
    and opt-in ones are not."""

    customer_id: str = Field(primary_key=True, max_length=300)
    channel: str = Field(primary_key=True, max_length=16)
    topic: str = Field(primary_key=True, max_length=64)
    subscribed: bool
    source: str = Field(default="", max_length=100)  # unsubscribe link, api, ...
    updated_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC),
        sa_column=Column(UTCDateTime(), nullable=False),
    )


class RecommenderModel(SQLModel, table=True):
    """A trained recommender: one version per kind and training, never changed afterwards.
    The payload is zlib-compressed JSON (neighbour tables of 10,000 products are megabytes)."""

    kind: str = Field(primary_key=True, max_length=32)
    version: int = Field(primary_key=True)
    trained_at: datetime = _time()
    parameters: dict[str, Any] = _json()
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size_bytes: int = 0


class ProductLink(SQLModel, table=True):
    """A merchandiser's link from a product to a related one, shown in `position` order."""

    product_id: str = Field(primary_key=True, max_length=300)
    related_id: str = Field(primary_key=True, max_length=300)
    position: int = 0
    updated_at: datetime = _time()


class Segment(SQLModel, table=True):
    """A segment definition as saved; `version` goes up each time its content changes.
    Archived segments are not evaluated, and their members leave them."""

    __table_args__ = (
        CheckConstraint("status IN ('active', 'archived')", name="ck_segment_status"),
    )

    name: str = Field(primary_key=True, max_length=64)
    version: int = 1
    spec: dict[str, Any] = _json()
    content_hash: str = Field(max_length=64)
    status: str = Field(default="active", max_length=16)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class SegmentMembership(SQLModel, table=True):
    """One stay of a customer in a segment: entered, and exited once they leave (NULL while
    in). Re-entering makes a new row, so the history stays; at most one open row per pair."""

    __table_args__ = (
        Index("ix_segment_membership_segment", "segment", "exited_at"),
        Index("ix_segment_membership_customer", "customer_id", "segment"),
        # the changes of one evaluation instant: a retried refresh delivers them again
        Index("ix_segment_membership_entered_at", "entered_at"),
        Index("ix_segment_membership_exited_at", "exited_at"),
        Index(
            "ux_segment_membership_open",
            "segment",
            "customer_id",
            unique=True,
            sqlite_where=text("exited_at IS NULL"),
            postgresql_where=text("exited_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    segment: str = Field(max_length=64)
    customer_id: str = Field(max_length=300)
    entered_at: datetime = _time()
    exited_at: datetime | None = _time(nullable=True)


class RfmThresholdsRow(SQLModel, table=True):
    """The RFM quintile edges the last batch refresh computed (one row, id 1), which the
    per-customer evaluation reads so both paths score alike (segments/rfm.py)."""

    __tablename__ = "rfm_thresholds"
    __table_args__ = (CheckConstraint("id = 1", name="ck_rfm_thresholds_one_row"),)

    id: int = Field(default=1, primary_key=True)
    computed_at: datetime = _time()
    customers: int = 0
    recency: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    frequency: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    monetary: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class StageEntry(SQLModel, table=True):
    """A customer entering a lifecycle stage (the first seen, then every move, either way):
    the funnel's stage-to-stage conversion and time in stage are read from these rows."""

    __table_args__ = (
        Index("ix_stageentry_stage_at", "stage", "at"),
        Index("ux_stageentry_once", "customer_id", "at", "stage", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)  # order of arrival, within an `at`
    customer_id: str = Field(max_length=300)
    at: datetime = _time()
    stage: str = Field(max_length=16)
    previous: str | None = Field(default=None, max_length=16)  # None: first seen
    cause: str = Field(default="", max_length=300)  # the event that moved them, or first_seen


class Decision(SQLModel, table=True):
    """A `decide` step's choice and its inputs (posteriors, samples, values, CLV): why this
    customer got this offer. Conversions are read from the run's `converted` record."""

    __table_args__ = (Index("ix_decision_journey_step", "journey", "step"),)

    decision_id: str = Field(primary_key=True, max_length=500)
    workflow_id: str = Field(index=True, max_length=400)
    customer_id: str = Field(index=True, max_length=300)
    journey: str = Field(max_length=64)
    version: int
    step: str = Field(max_length=64)
    chosen: str | None = Field(default=None, max_length=64)
    inputs: dict[str, Any] = _json()  # eligible, stats, samples, values, clv, expected
    at: datetime = _time()


class ExperimentPromotion(SQLModel, table=True):
    """An experiment's winner given all the traffic by a new journey version (automatically or
    by an operator), and its revert: the version that restored the weights before it."""

    id: int | None = Field(default=None, primary_key=True)
    journey: str = Field(index=True, max_length=64)
    step: str = Field(max_length=64)
    winner: str = Field(max_length=64)
    from_version: int
    to_version: int
    weights_before: dict[str, Any] = _json()  # variant -> weight in from_version
    probability_best: float | None = None  # the winner's, when it was promoted
    exposures: dict[str, Any] = _json()  # variant -> runs exposed, when it was promoted
    manual: bool = False
    at: datetime = _time()
    reverted_at: datetime | None = _time(nullable=True)
    reverted_version: int | None = None


class ClvModel(SQLModel, table=True):
    """One scheduled CLV fit (activities/kpis.py): the BG/NBD and Gamma-Gamma parameters it
    found, or why it found none (`status` skipped, `reason`). `fit_key` names the fit's inputs
    (calibration end, unit, horizon, window), so a retried activity finds its own row and
    writes the same traits instead of fitting a new version."""

    __tablename__ = "clv_model"

    version: int = Field(primary_key=True)
    fit_key: str = Field(unique=True, max_length=200)
    status: str = Field(default="fitted", max_length=16)  # fitted | skipped
    reason: str = ""  # why skipped
    fitted_at: datetime = _time()
    calibration_end: datetime = _time()
    unit: str = Field(default="weeks", max_length=8)  # days | weeks
    horizon_days: float = 90.0
    window_days: float | None = None  # orders of this many days up to calibration_end; None: all
    customers: int = 0  # customers with orders in the calibration period
    repeat_customers: int = 0
    # {"bg_nbd": {r, alpha, a, b}, "gamma_gamma": {p, q, gamma}}; empty when skipped
    parameters: dict[str, Any] = _json()
    bg_nbd_log_likelihood: float | None = None
    gamma_gamma_log_likelihood: float | None = None
    traits_written: int = 0  # customers whose predicted traits this fit wrote


class ApiKey(SQLModel, table=True):
    """A write or admin key made through the API or CLI: only its SHA-256 is kept (the key is
    shown once, when made), and revoking it takes effect within a few seconds on every API."""

    key_id: str = Field(primary_key=True, max_length=32)  # public, for listing and revoking
    kind: str = Field(max_length=8)  # write | admin
    name: str = Field(max_length=100)
    digest: str = Field(unique=True, max_length=64)
    created_at: datetime = _time()
    revoked_at: datetime | None = _time(nullable=True)


class BacktestRun(SQLModel, table=True):
    """A backtest asked for through the API (`POST /v1/backtests`), run by the `backtest-{id}`
    workflow; its report is kept here, since the workflow's history goes with the namespace's
    retention."""

    __tablename__ = "backtest_run"

    backtest_id: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="running", max_length=16)  # running | done | stopped | failed
    request: dict[str, Any] = _json()  # specs (as run), from, to
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str = ""
    requested_at: datetime = _time()
    finished_at: datetime | None = _time(nullable=True)

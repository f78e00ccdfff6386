"""The KPI queries: journey conversions (per journey, step, experiment variant, segment and
entry period), the lifecycle funnel's raw figures, NPS answers and historic CLV per customer.

Counting and grouping run in the database, on SQLite and PostgreSQL alike; what needs every
value (medians, percentiles) or Python's judgement (is this NPS answer a score?) gets the
smallest rows that serve it. kpis/reports.py shapes the results.

A run is its `entered` record (its instant is when the run entered); it converted if it has a
`converted` record: the workflow only writes one when the goal was reached within `within`.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    distinct,
    exists,
    extract,
    func,
    label,
    literal_column,
    or_,
)
from sqlalchemy import select as select_rows  # any number of columns; sqlmodel's: up to 4
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery
from sqlmodel import Session, col, select

from journeys.store.models import (
    Customer,
    Event,
    JourneyEvent,
    JourneyVersion,
    Order,
    SegmentMembership,
    StageEntry,
)

Period = Literal["day", "week", "month"]
NPS_EVENT = "NPS Submitted"


@dataclass(frozen=True)
class RunFilter:
    """Which runs count: of one journey and version, entered in [start, end)."""

    journey: str | None = None
    version: int | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Counts:
    """Runs in a group (a journey, a step, a variant, a segment, a period) and how many
    of them converted."""

    key: str
    entries: int
    conversions: int
    group: str = ""  # the experiment step of a variant; the journey of a per-journey row


# -- dialect helpers: the same figure from SQLite's text timestamps and PostgreSQL's ----------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _epoch(dialect: str, column: Any) -> ColumnElement[float]:
    """Seconds since 1970 (UTC) of a UTCDateTime column, as a number both back-ends compare."""
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return cast(ColumnElement[float], extract("epoch", column))  # typed int; it has fractions


def _bucket(dialect: str, column: Any, period: Period) -> ColumnElement[str]:
    """The UTC day, week (its Monday) or month (its 1st) an instant falls in, as YYYY-MM-DD."""
    if dialect == "sqlite":
        if period == "day":
            return func.date(column)
        if period == "week":  # back 6 days, then forward to a Monday: this week's Monday
            return func.date(column, "-6 days", "weekday 1")
        return func.strftime("%Y-%m-01", column)
    # PostgreSQL: a timestamptz truncates in the session's zone; say UTC
    utc = func.timezone("UTC", column)
    return func.to_char(func.date_trunc(period, utc), "YYYY-MM-DD")


# -- journey runs ----------------------------------------------------------------------------


def _runs(runs: RunFilter) -> Subquery:
    """One row per run: workflow id, journey, version, customer, entered at."""
    query = select_rows(
        label("workflow_id", col(JourneyEvent.workflow_id)),
        label("journey", col(JourneyEvent.journey)),
        label("version", col(JourneyEvent.version)),
        label("customer_id", col(JourneyEvent.customer_id)),
        label("entered_at", col(JourneyEvent.at)),
    ).where(col(JourneyEvent.kind) == "entered")
    if runs.journey is not None:
        query = query.where(col(JourneyEvent.journey) == runs.journey)
    if runs.version is not None:
        query = query.where(col(JourneyEvent.version) == runs.version)
    if runs.start is not None:
        query = query.where(col(JourneyEvent.at) >= runs.start)
    if runs.end is not None:
        query = query.where(col(JourneyEvent.at) < runs.end)
    return query.subquery("runs")


def _converted() -> Subquery:
    query = select(label("workflow_id", col(JourneyEvent.workflow_id))).where(
        JourneyEvent.kind == "converted"
    )
    return query.distinct().subquery("converted")


def _counted(
    session: Session, runs: Subquery, key: Any, group: Any = None, join: Any = None
) -> list[Counts]:
    """Distinct runs and converted runs per `key` (and `group`), joining `join` first."""
    converted = _converted()
    columns = [key.label("key"), (group if group is not None else literal_column("''")).label("g")]
    source: Any = runs
    if join is not None:
        source = join
    query = (
        select_rows(
            *columns,
            func.count(distinct(runs.c.workflow_id)),
            func.count(distinct(converted.c.workflow_id)),
        )
        .select_from(source)
        .outerjoin(converted, converted.c.workflow_id == runs.c.workflow_id)
        .group_by(*([key] if group is None else [group, key]))
        .order_by(*([key] if group is None else [group, key]))
    )
    return [
        Counts(key=str(k), entries=int(n), conversions=int(c), group=str(g or ""))
        for k, g, n, c in session.execute(query)
    ]


def conversion_by_journey(session: Session, *, runs: RunFilter) -> list[Counts]:
    """Runs entered and runs converted, per journey."""
    subquery = _runs(runs)
    return _counted(session, subquery, subquery.c.journey)


def run_outcomes(session: Session, *, runs: RunFilter) -> list[tuple[int, str, bool]]:
    """Every run: its version, its customer at entry and whether it converted (the holdout
    and control groups are a hash of the customer: they are told apart in Python)."""
    subquery, converted = _runs(runs), _converted()
    query = select_rows(
        subquery.c.version, subquery.c.customer_id, converted.c.workflow_id.is_not(None)
    ).outerjoin(converted, converted.c.workflow_id == subquery.c.workflow_id)
    return [(int(v), str(c), bool(won)) for v, c, won in session.execute(query)]


def holdout_shares(session: Session, *, journey: str) -> dict[int, float]:
    """Each published version's holdout share (0 where it has none)."""
    query = select(JourneyVersion.version, JourneyVersion.spec).where(
        JourneyVersion.name == journey
    )
    return {int(v): float(spec.get("holdout") or 0) for v, spec in session.exec(query)}


def conversion_by_step(session: Session, *, runs: RunFilter) -> list[Counts]:
    """Per step: the runs that reached it (have its step record: it finished, or a goal or an
    exit cut it short) and how many of those converted, ordered by the step's first record
    number across runs: roughly as a run meets them."""
    subquery = _runs(runs)
    steps = (
        select(
            col(JourneyEvent.workflow_id).label("workflow_id"),
            col(JourneyEvent.step).label("step"),
            func.min(JourneyEvent.seq).label("seq"),
        )
        .where(JourneyEvent.kind == "step")
        .group_by(col(JourneyEvent.workflow_id), col(JourneyEvent.step))
        .subquery("steps")
    )
    converted = _converted()
    query = (
        select(
            steps.c.step,
            func.count(distinct(subquery.c.workflow_id)),
            func.count(distinct(converted.c.workflow_id)),
            func.min(steps.c.seq),
        )
        .select_from(subquery)
        .join(steps, steps.c.workflow_id == subquery.c.workflow_id)
        .outerjoin(converted, converted.c.workflow_id == subquery.c.workflow_id)
        .group_by(steps.c.step)
        .order_by(func.min(steps.c.seq), steps.c.step)
    )
    return [
        Counts(key=str(step), entries=int(n), conversions=int(c))
        for step, n, c, _ in session.execute(query)
    ]


def spec_steps(session: Session, *, journey: str, version: int | None = None) -> list[str]:
    """The journey's step ids in the order its spec lists them: the newest published version's
    first, then steps only older versions had (or the one version asked for alone)."""
    query = select(JourneyVersion.spec).where(JourneyVersion.name == journey)
    if version is not None:
        query = query.where(JourneyVersion.version == version)
    steps: dict[str, None] = {}
    for spec in session.exec(query.order_by(col(JourneyVersion.version).desc())):
        steps.update((str(step["id"]), None) for step in spec.get("steps", []))
    return list(steps)


def goalless_journeys(session: Session, *, version: int | None = None) -> set[str]:
    """The journeys none of whose published versions (or the one version asked for) has a
    goal: their runs cannot convert, and a conversion rate of 0 would read as a failure."""
    query = select_rows(col(JourneyVersion.name), col(JourneyVersion.spec))
    if version is not None:
        query = query.where(col(JourneyVersion.version) == version)
    with_goal: set[str] = set()
    names: set[str] = set()
    for name, spec in session.execute(query):
        names.add(name)
        if spec.get("goal"):
            with_goal.add(name)
    return names - with_goal


def conversion_by_segment(session: Session, *, runs: RunFilter) -> list[Counts]:
    """Per segment the customer was in when the run entered (entered_at <= entry < exited_at,
    or still in): runs and conversions."""
    subquery = _runs(runs)
    member = SegmentMembership
    join = subquery.join(
        member,
        and_(
            col(member.customer_id) == subquery.c.customer_id,
            col(member.entered_at) <= subquery.c.entered_at,
            or_(col(member.exited_at).is_(None), col(member.exited_at) > subquery.c.entered_at),
        ),
    )
    return _counted(session, subquery, col(member.segment), None, join)


def conversion_over_time(session: Session, *, runs: RunFilter, period: Period) -> list[Counts]:
    """Per day, week or month of entry (UTC, `key` YYYY-MM-DD), per journey (`group`)."""
    subquery = _runs(runs)
    bucket = _bucket(_dialect(session), subquery.c.entered_at, period)
    return _counted(session, subquery, bucket, subquery.c.journey)


def journey_versions(session: Session, *, name: str) -> list[int]:
    """The versions of a journey that were published or have left records."""
    published = select(JourneyVersion.version).where(JourneyVersion.name == name)
    recorded = select(JourneyEvent.version).where(JourneyEvent.journey == name).distinct()
    return sorted(set(session.exec(published)) | set(session.exec(recorded)))


def journey_known(session: Session, *, name: str) -> bool:
    """A journey is known if it was published or has left records."""
    published = session.exec(select(JourneyVersion.name).where(JourneyVersion.name == name))
    if published.first() is not None:
        return True
    recorded = select(JourneyEvent.key).where(JourneyEvent.journey == name).limit(1)
    return session.exec(recorded).first() is not None


# -- lifecycle funnel ------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelFigures:
    """Raw funnel figures; `stays` are each finished stay's stage and length in seconds."""

    customers: dict[str, int]  # stage -> customers who entered it (in the period)
    advanced: dict[str, int]  # stage -> of those, how many later entered `next_stage[stage]`
    moves: dict[tuple[str, str], int]  # (from, to) -> moves
    stays: list[tuple[str, float]]
    open_stays: dict[str, int]  # stage -> customers still in it (no later entry)


def funnel_figures(
    session: Session,
    *,
    next_stage: dict[str, str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> FunnelFigures:
    """Entries in [start, end) count; what came after them counts whenever it happened."""
    dialect = _dialect(session)

    def in_period(column: Any) -> list[ColumnElement[bool]]:
        clauses = []
        if start is not None:
            clauses.append(column >= start)
        if end is not None:
            clauses.append(column < end)
        return clauses

    entry = aliased(StageEntry, name="s")
    later = aliased(StageEntry, name="n")
    customers = {
        stage: int(n)
        for stage, n in session.execute(
            select(entry.stage, func.count(distinct(col(entry.customer_id))))
            .where(*in_period(col(entry.at)))
            .group_by(entry.stage)
        )
    }
    next_of = case(next_stage, value=col(entry.stage), else_=None)
    went_on = exists().where(
        col(later.customer_id) == col(entry.customer_id),
        col(later.stage) == next_of,
        or_(
            col(later.at) > col(entry.at),
            and_(col(later.at) == col(entry.at), col(later.id) > col(entry.id)),
        ),
    )
    advanced = {
        stage: int(n)
        for stage, n in session.execute(
            select(entry.stage, func.count(distinct(col(entry.customer_id))))
            .where(went_on, *in_period(col(entry.at)))
            .group_by(entry.stage)
        )
    }
    moves = {
        (str(a), str(b)): int(n)
        for a, b, n in session.execute(
            select(StageEntry.previous, StageEntry.stage, func.count())
            .where(col(StageEntry.previous).is_not(None), *in_period(col(StageEntry.at)))
            .group_by(col(StageEntry.previous), col(StageEntry.stage))
        )
    }
    order = (col(StageEntry.at), col(StageEntry.id))
    following = (
        select(
            col(StageEntry.stage).label("stage"),
            col(StageEntry.at).label("at"),
            func.lead(StageEntry.at)
            .over(partition_by=col(StageEntry.customer_id), order_by=order)
            .label("next_at"),
        )
    ).subquery("following")
    period = in_period(following.c.at)
    length = _epoch(dialect, following.c.next_at) - _epoch(dialect, following.c.at)
    stays = [
        (str(stage), float(seconds))
        for stage, seconds in session.execute(
            select(following.c.stage, length).where(following.c.next_at.is_not(None), *period)
        )
    ]
    open_stays = {
        str(stage): int(n)
        for stage, n in session.execute(
            select(following.c.stage, func.count())
            .where(following.c.next_at.is_(None), *period)
            .group_by(following.c.stage)
        )
    }
    return FunnelFigures(customers, advanced, moves, stays, open_stays)


# -- NPS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NpsAnswer:
    message_id: str
    customer_id: str
    at: datetime
    score: Any  # as sent; kpis.reports keeps the ones that are 0-10 whole numbers


def nps_answers(
    session: Session, *, start: datetime | None = None, end: datetime | None = None
) -> list[NpsAnswer]:
    """Every `NPS Submitted` answer in [start, end), with its `properties.score` only (not
    the whole payload)."""
    score = col(Event.payload)[("properties", "score")]
    query = select(Event.message_id, Event.customer_id, Event.timestamp, score).where(
        Event.type == "track", Event.event == NPS_EVENT
    )
    if start is not None:
        query = query.where(col(Event.timestamp) >= start)
    if end is not None:
        query = query.where(col(Event.timestamp) < end)
    return [
        NpsAnswer(m, c, t, s)
        for m, c, t, s in session.execute(query.order_by(col(Event.timestamp)))
    ]


def nps_journeys(
    session: Session,
    *,
    window_days: float = 30.0,
    journey: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[tuple[str, str]]:
    """(answer messageId, journey) for each journey the customer had a run of entered within
    `window_days` before the answer (at most once per answer and journey)."""
    dialect = _dialect(session)
    gap = _epoch(dialect, Event.timestamp) - _epoch(dialect, JourneyEvent.at)
    query = (
        select(Event.message_id, JourneyEvent.journey)
        .join(JourneyEvent, col(JourneyEvent.customer_id) == col(Event.customer_id))
        .where(
            Event.type == "track",
            Event.event == NPS_EVENT,
            JourneyEvent.kind == "entered",
            # a millisecond's slack: SQLite's julianday arithmetic is not exact to the second
            gap >= -0.001,
            gap <= window_days * 86400.0 + 0.001,
        )
        .distinct()
    )
    if journey is not None:
        query = query.where(JourneyEvent.journey == journey)
    if start is not None:
        query = query.where(col(Event.timestamp) >= start)
    if end is not None:
        query = query.where(col(Event.timestamp) < end)
    return [(str(m), str(j)) for m, j in session.execute(query)]


# -- historic CLV ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerValue:
    customer_id: str
    total: float
    orders: int
    first_order: datetime | None
    last_order: datetime | None


def _values(session: Session, customer_id: str | None) -> list[CustomerValue]:
    query = select_rows(
        col(Order.customer_id),
        func.sum(Order.total),
        func.count(),
        func.min(Order.created_at),
        func.max(Order.created_at),
    ).group_by(col(Order.customer_id))
    if customer_id is not None:
        query = query.where(col(Order.customer_id) == customer_id)
    rows = session.execute(query.order_by(col(Order.customer_id)))
    return [CustomerValue(str(c), float(t or 0), int(n), a, b) for c, t, n, a, b in rows]


def customer_values(session: Session) -> list[CustomerValue]:
    """Historic value of every customer with an order: the sum of order totals, the number
    of orders, the first and last order's time."""
    return _values(session, None)


def customer_value(session: Session, *, customer_id: str) -> CustomerValue | None:
    """One customer's historic value (zero without orders); None for an unknown customer."""
    found = _values(session, customer_id)
    if found:
        return found[0]
    if session.get(Customer, customer_id) is None:
        return None
    return CustomerValue(customer_id, 0.0, 0, None, None)

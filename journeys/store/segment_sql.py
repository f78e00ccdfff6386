"""The batch path: a segment definition compiled to one SQL query (SQLAlchemy Core) returning
the ids of its members, on SQLite and PostgreSQL alike.

The meaning is `segments/evaluate.py`'s, rule for rule:

- Each rule is wrapped in COALESCE(rule, false): SQL's NULL (a missing trait) must be false,
  not unknown, or `not` would drop the customer where Python keeps them.
- A trait is read only when its JSON type is the rule's (json_type / json_typeof, in a CASE so
  PostgreSQL never casts "abc" to a number): an age stored as "35" matches no number rule.
- Counts and sums in a window are correlated subqueries (the (customer_id, timestamp) index);
  engagement and RFM, read more than once per rule, are joined as grouped subqueries.
- Windows are (as_of - within, as_of]; nothing after `as_of` counts.
"""

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from journeys.segments.definition import (
    ENGAGED_TYPES,
    ENGAGEMENT_BOUNDS,
    ENGAGEMENT_LEVELS,
    ENGAGEMENT_WINDOW_DAYS,
    AllOf,
    AnyOf,
    Condition,
    NotOf,
    Rule,
    SegmentDefinition,
)
from journeys.segments.rfm import RfmThresholds
from journeys.store.models import Customer, Event, Order, UTCDateTime
from journeys.vocabulary.events import PASSIVE_EVENTS

customer = Customer.__table__  # type: ignore[attr-defined]
event = Event.__table__  # type: ignore[attr-defined]
order = Order.__table__  # type: ignore[attr-defined]


class JsonIs(ColumnElement[bool]):
    """True when `column[trait]` is a JSON value of `kind` (number, string, array, present: any
    value but null); NULL when the key is missing."""

    type = Boolean()
    inherit_cache = False

    # `trait`, not `key`: ColumnElement.key is SQLAlchemy's own (the name in a select's columns)
    def __init__(self, column: Any, trait: str, kind: str) -> None:
        self.column, self.trait, self.kind = column, trait, kind


class JsonArrayHas(ColumnElement[bool]):
    """True when `column[trait]` is a JSON array with the string `value` among its elements."""

    type = Boolean()
    inherit_cache = False

    def __init__(self, column: Any, trait: str, value: str) -> None:
        self.column, self.trait, self.value = column, trait, value


_SQLITE_KINDS = {
    "number": "IN ('integer', 'real')",
    "string": "= 'text'",
    "array": "= 'array'",
    "present": "<> 'null'",
}
_POSTGRES_KINDS = {"number": "= 'number'", "string": "= 'string'", "array": "= 'array'",
                   "present": "<> 'null'"}  # fmt: skip


def _path(compiler: SQLCompiler, key: str, **kw: Any) -> str:
    return compiler.process(literal(f'$."{key}"'), **kw)


@compiles(JsonIs, "sqlite")
def _json_is_sqlite(element: JsonIs, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    path = _path(compiler, element.trait, **kw)
    return f"(json_type({column}, {path}) {_SQLITE_KINDS[element.kind]})"


@compiles(JsonIs, "postgresql")
def _json_is_postgres(element: JsonIs, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.trait), **kw)
    return f"(json_typeof({column} -> {key}) {_POSTGRES_KINDS[element.kind]})"


@compiles(JsonArrayHas, "sqlite")
def _array_has_sqlite(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    path = _path(compiler, element.trait, **kw)
    value = compiler.process(literal(element.value), **kw)
    return (
        f"(json_type({column}, {path}) = 'array' AND EXISTS (SELECT 1 FROM json_each({column},"
        f" {path}) AS element WHERE element.type = 'text' AND element.value = {value}))"
    )


@compiles(JsonArrayHas, "postgresql")
def _array_has_postgres(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(literal(element.trait), **kw)
    # jsonb containment: an array contains ["x"] when "x" is one of its elements; a string
    # "x" does not contain ["x"], so only arrays match, as in Python.
    probe = compiler.process(literal(json.dumps([element.value])), **kw)
    return f"(CAST({column} -> {key} AS JSONB) @> CAST({probe} AS JSONB))"


@compiles(JsonIs)
@compiles(JsonArrayHas)
def _unsupported(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"segments support SQLite and PostgreSQL, not {compiler.dialect.name}")


class _Query:
    """Builds one definition's WHERE clause, adding the grouped subqueries it needs once."""

    def __init__(self, as_of: datetime, thresholds: RfmThresholds | None) -> None:
        self.as_of = as_of
        self.thresholds = thresholds
        self.joins: dict[str, FromClause] = {}

    def condition(self, node: Condition) -> ColumnElement[bool]:
        if isinstance(node, AllOf):
            return and_(*(self.condition(child) for child in node.all))
        if isinstance(node, AnyOf):
            return or_(*(self.condition(child) for child in node.any))
        if isinstance(node, NotOf):
            return not_(self.condition(node.not_))
        return func.coalesce(self.rule(node), false(), type_=Boolean)

    def rule(self, rule: Rule) -> ColumnElement[bool]:
        field, op, value = rule.field, rule.operator, rule.value
        if field.startswith("traits."):
            return self.trait(rule, field.removeprefix("traits."))
        if field == "stage":
            if op == "exists":
                return customer.c.stage.is_not(None) if value else customer.c.stage.is_(None)
            return compare(customer.c.stage, op, value)
        if field == "events.count":
            return compare(self.event_count(rule), op, value)
        if field in ("orders.count", "orders.total"):
            return compare(self.order_measure(rule), op, value)
        if field == "engagement":
            return compare(self.engagement(), op, value)
        return compare(self.rfm_score(field.removeprefix("rfm.")), op, value)

    def trait(self, rule: Rule, name: str) -> ColumnElement[bool]:
        traits = customer.c.traits
        op, value = rule.operator, rule.value
        if op == "exists":
            present = JsonIs(traits, name, "present")
            return present if value else not_(func.coalesce(present, false(), type_=Boolean))
        if op == "contains":
            return JsonArrayHas(traits, name, value)
        if rule.kind == "number":
            typed = case((JsonIs(traits, name, "number"), traits[name].as_float()))
        else:
            typed = case((JsonIs(traits, name, "string"), traits[name].as_string()))
        return compare(typed, op, value)

    def window(self, column: Any, within: timedelta | None) -> ColumnElement[bool]:
        upper = column <= literal(self.as_of, UTCDateTime())
        if within is None:
            return upper
        return and_(column > literal(self.as_of - within, UTCDateTime()), upper)

    def event_count(self, rule: Rule) -> Any:
        filters = [event.c.customer_id == customer.c.customer_id]
        if rule.event is not None:
            filters += [event.c.type == "track", event.c.event == rule.event]
        elif rule.type is not None:
            filters.append(event.c.type == rule.type)
        filters.append(self.window(event.c.timestamp, rule.within))
        return select(func.count()).select_from(event).where(*filters).scalar_subquery()

    def order_measure(self, rule: Rule) -> Any:
        measure = (
            func.count()
            if rule.field == "orders.count"
            else func.coalesce(func.sum(order.c.total), 0.0)
        )
        return (
            select(measure)
            .select_from(order)
            .where(
                order.c.customer_id == customer.c.customer_id,
                self.window(order.c.created_at, rule.within),
            )
            .scalar_subquery()
        )

    def engagement(self) -> Any:
        if "engagement" not in self.joins:
            window = timedelta(days=ENGAGEMENT_WINDOW_DAYS)
            self.joins["engagement"] = (
                select(event.c.customer_id, func.count().label("n"))
                .where(
                    event.c.type.in_(ENGAGED_TYPES),
                    func.coalesce(event.c.event, "").not_in(sorted(PASSIVE_EVENTS)),
                    self.window(event.c.timestamp, window),
                )
                .group_by(event.c.customer_id)
                .subquery("engagement")
            )
        n = func.coalesce(self.joins["engagement"].c.n, 0)
        levels = list(zip(ENGAGEMENT_BOUNDS, ENGAGEMENT_LEVELS[1:], strict=True))
        return case(*((n >= bound, level) for bound, level in reversed(levels)), else_="none")

    def rfm_score(self, measure: str) -> Any:
        if "rfm" not in self.joins:
            self.joins["rfm"] = (
                select(
                    order.c.customer_id,
                    func.count().label("frequency"),
                    func.sum(order.c.total).label("monetary"),
                    func.max(order.c.created_at).label("last"),
                )
                .where(order.c.created_at <= literal(self.as_of, UTCDateTime()))
                .group_by(order.c.customer_id)
                .subquery("rfm")
            )
        rfm = self.joins["rfm"]
        thresholds = self.thresholds
        if measure == "recency":
            edges = thresholds.recency_edges() if thresholds else []
            above = [rfm.c["last"] < literal(self.as_of - e, UTCDateTime()) for e in edges]
            base, sign = 5, -1
        else:
            values = getattr(thresholds, measure) if thresholds else []
            above = [rfm.c[measure] > edge for edge in values]
            base, sign = 1, 1
        score: Any = literal(base)
        for test in above:
            score = score + sign * case((test, 1), else_=0)
        return case((rfm.c.frequency.is_not(None), score))

    def apply_joins(self, query: Select[Any]) -> Select[Any]:
        source: Any = customer
        for sub in self.joins.values():
            source = source.outerjoin(sub, sub.c.customer_id == customer.c.customer_id)
        return query.select_from(source)


def compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "eq":
        return column == value  # type: ignore[no-any-return]
    if op == "ne":
        return column != value  # type: ignore[no-any-return]
    if op == "in":
        return column.in_(value)  # type: ignore[no-any-return]
    if op == "not_in":
        return column.not_in(value)  # type: ignore[no-any-return]
    if op == "gt":
        return column > value  # type: ignore[no-any-return]
    if op == "gte":
        return column >= value  # type: ignore[no-any-return]
    if op == "lt":
        return column < value  # type: ignore[no-any-return]
    if op == "lte":
        return column <= value  # type: ignore[no-any-return]
    raise CompileError(f"operator {op} cannot compare {column}")


def members_query(
    definition: SegmentDefinition, *, as_of: datetime, thresholds: RfmThresholds | None
) -> Select[Any]:
    """SELECT the ids of the customers (not merged into another) in the segment at `as_of`."""
    query = _Query(as_of, thresholds)
    where = query.condition(definition.condition)
    return query.apply_joins(
        select(customer.c.customer_id).where(customer.c.merged_into.is_(None), where)
    )


def compile_problems(definition: SegmentDefinition) -> list[str]:
    """Why the definition cannot be compiled for SQLite or PostgreSQL (empty: it can)."""
    from sqlalchemy.dialects import postgresql, sqlite

    problems = []
    query = members_query(definition, as_of=datetime(2000, 1, 1), thresholds=None)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        try:
            query.compile(dialect=dialect)
        except Exception as err:  # noqa: BLE001  (any failure to compile is the reason)
            problems.append(f"cannot compile for {dialect.name}: {err}")
    return problems

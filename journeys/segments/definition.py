"""Segment definitions: the YAML an operator writes, as pydantic models, and the checks that
refuse a definition naming an unknown field or operator, with every problem and where it is.

    name: engaged_runners
    condition:
      all:
        - {field: traits.interests, contains: running}
        - {field: events.count, event: Product Viewed, within: 30d, gte: 3}
        - any:
            - {field: rfm.recency, gte: 4}
            - not: {field: stage, in: [awareness]}

A condition is `all: [...]`, `any: [...]`, `not: {...}` or a rule: one `field`, exactly one
operator, and the options the field takes (`event`/`type` and `within` for counts). Import-light
(pydantic only).
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from journeys.vocabulary.events import Stage
from journeys.vocabulary.journey_spec import Duration
from journeys.vocabulary.kpi_types import PREDICTED_TRAITS

# Trait kinds decide the operators and the JSON type a value must have to match: a number trait
# matches only a JSON number (an age stored as "35" matches nothing), a string trait only a JSON
# string, a list trait only a JSON array.
TRAITS: dict[str, Literal["number", "string", "list"]] = {
    # demographics
    "age": "number", "gender": "string", "income": "number", "education": "string",
    # geography
    "country": "string", "region": "string", "city": "string", "postal_code": "string",
    # psychographics
    "interests": "list", "lifestyle": "list", "values": "list",
    # predictive, written by the scheduled CLV fit (activities/kpis.py) and absent until it has
    # fitted: p_alive, churn_risk (1 - p_alive), expected_purchases and predicted_clv over the
    # fit's horizon (90 days); historic_clv, the totals of all the customer's orders
    **{name: "number" for name in (*PREDICTED_TRAITS, "historic_clv")},
}  # fmt: skip
# Engagement: events the customer did (track, page, screen; not identify/group/alias, not
# passive events such as deliveries) in the last 30 days, bucketed.
ENGAGEMENT_WINDOW_DAYS = 30
ENGAGED_TYPES = ("track", "page", "screen")  # the calls that count as engagement
ENGAGEMENT_LEVELS = ("none", "low", "medium", "high")  # 0 | 1-4 | 5-19 | 20 or more
ENGAGEMENT_BOUNDS = (1, 5, 20)  # the fewest events for low, medium, high
EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")

Kind = Literal["number", "string", "list", "stage", "count", "score", "level"]
FIELDS: dict[str, Kind] = {
    **{f"traits.{name}": kind for name, kind in TRAITS.items()},
    "stage": "stage",
    "events.count": "count",
    "orders.count": "count",
    "orders.total": "number",
    "rfm.recency": "score",
    "rfm.frequency": "score",
    "rfm.monetary": "score",
    "engagement": "level",
}
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists")
_ORDERED = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte")
OPERATORS_OF: dict[Kind, tuple[str, ...]] = {
    "number": (*_ORDERED, "exists"),
    "string": ("eq", "ne", "in", "not_in", "exists"),
    "list": ("contains", "exists"),
    "stage": ("eq", "ne", "in", "not_in", "exists"),
    "count": _ORDERED,
    "score": _ORDERED,
    "level": ("eq", "ne", "in", "not_in"),
}
# Options a rule may carry besides its field and operator, by field.
OPTIONS_OF: dict[str, tuple[str, ...]] = {
    "events.count": ("event", "type", "within"),
    "orders.count": ("within",),
    "orders.total": ("within",),
}
MAX_DEPTH = 8


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    """One comparison. Every operator but `exists` is false for a customer who lacks the value
    (no such trait, a trait of another JSON type, no stage, no orders for an RFM score): `ne`
    and `not_in` mean "has a value, and it differs"; wrap in `not` to include the missing."""

    model_config = ConfigDict(populate_by_name=True)

    field: str
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    not_in: list[Any] | None = None
    gt: Any = None
    gte: Any = None
    lt: Any = None
    lte: Any = None
    contains: Any = None
    exists: bool | None = None
    event: str | None = Field(default=None, min_length=1, max_length=300)
    type: str | None = None
    within: Duration | None = None

    @property
    def operator(self) -> str:
        return next(op for op in OPERATORS if self._value(op) is not None)

    @property
    def value(self) -> Any:
        return self._value(self.operator)

    def _value(self, op: str) -> Any:
        return getattr(self, "in_" if op == "in" else op)

    @property
    def kind(self) -> Kind:
        return FIELDS[self.field]

    @model_validator(mode="after")
    def _check(self) -> "Rule":
        if problems := _rule_problems(self):
            raise ValueError("\n".join(problems))
        return self


def _rule_problems(rule: Rule) -> list[str]:
    """Each problem as "key: reason" (the key where it is, inside the rule)."""
    kind = FIELDS.get(rule.field)
    if kind is None:
        return [f"field: unknown field {rule.field!r}; use one of {', '.join(FIELDS)}"]
    problems = []
    given = [op for op in OPERATORS if rule._value(op) is not None]
    allowed = OPERATORS_OF[kind]
    if not given:
        problems.append(f"field: {rule.field} needs one operator: {', '.join(allowed)}")
    elif len(given) > 1:
        problems.append(f"{given[1]}: one operator per rule (already {given[0]}); use all/any")
    for op in given:
        if op not in allowed:
            problems.append(f"{op}: {rule.field} takes {', '.join(allowed)}, not {op}")
        else:
            problems += [f"{op}: {reason}" for reason in _value_problems(rule, kind, op)]
    options = OPTIONS_OF.get(rule.field, ())
    for option in ("event", "type", "within"):
        if getattr(rule, option) is not None and option not in options:
            takes = f"takes only {', '.join(options)}" if options else "takes no options"
            problems.append(f"{option}: {rule.field} {takes}")
    if rule.event is not None and rule.type is not None and "event" in options:
        problems.append("type: name a track event or a call type, not both")
    if rule.type is not None and rule.type not in EVENT_TYPES:
        problems.append(
            f"type: unknown call type {rule.type!r}; use one of {', '.join(EVENT_TYPES)}"
        )
    return problems


def _value_problems(rule: Rule, kind: Kind, op: str) -> list[str]:
    value = rule._value(op)
    if op == "exists":
        return []
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and not values:
        return ["needs at least one value"]
    checks = {
        "number": (_is_number, "a number"),
        "count": (lambda v: _is_number(v) and v >= 0 and float(v).is_integer(), "a whole number"),
        "score": (lambda v: _is_number(v) and v in (1, 2, 3, 4, 5), "a score from 1 to 5"),
        "string": (lambda v: isinstance(v, str), "a string (quote numbers: '01060')"),
        "list": (lambda v: isinstance(v, str), "a string (an element of the list)"),
        "stage": (lambda v: v in set(Stage), f"a stage: {', '.join(Stage)}"),
        "level": (lambda v: v in ENGAGEMENT_LEVELS, f"a level: {', '.join(ENGAGEMENT_LEVELS)}"),
    }
    check, what = checks[kind]
    bad = [v for v in values if not check(v)]
    return [f"{v!r} is not {what}" for v in bad]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class AllOf(_Model):
    all: list["Condition"] = Field(min_length=1)


class AnyOf(_Model):
    any: list["Condition"] = Field(min_length=1)


class NotOf(_Model):
    model_config = ConfigDict(populate_by_name=True)

    not_: "Condition" = Field(alias="not")


_TAGS = {"all": "all-of", "any": "any-of", "not": "not-of"}


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        keys = [key for key in _TAGS if key in value]
        return _TAGS[keys[0]] if keys else "rule-of"
    if isinstance(value, AllOf | AnyOf | NotOf):
        return {AllOf: "all-of", AnyOf: "any-of", NotOf: "not-of"}[type(value)]
    return "rule-of"


Condition = Annotated[
    Union[  # noqa: UP007  (tagged members read better spelled out)
        Annotated[AllOf, Tag("all-of")],
        Annotated[AnyOf, Tag("any-of")],
        Annotated[NotOf, Tag("not-of")],
        Annotated[Rule, Tag("rule-of")],
    ],
    Discriminator(_condition_kind),
]


class SegmentDefinition(_Model):
    """A named condition; membership is every customer it holds for, as of an instant."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    description: str = ""
    condition: Condition

    @model_validator(mode="after")
    def _not_too_deep(self) -> "SegmentDefinition":
        if depth(self.condition) > MAX_DEPTH:
            raise ValueError(f"condition: nested deeper than {MAX_DEPTH} levels")
        return self

    def rules(self) -> list[Rule]:
        return list(_rules(self.condition))


def depth(condition: "Condition") -> int:
    if isinstance(condition, AllOf):
        return 1 + max(depth(c) for c in condition.all)
    if isinstance(condition, AnyOf):
        return 1 + max(depth(c) for c in condition.any)
    if isinstance(condition, NotOf):
        return 1 + depth(condition.not_)
    return 1


def _rules(condition: "Condition") -> Any:
    if isinstance(condition, AllOf | AnyOf):
        for child in condition.all if isinstance(condition, AllOf) else condition.any:
            yield from _rules(child)
    elif isinstance(condition, NotOf):
        yield from _rules(condition.not_)
    else:
        yield condition


class Problem(BaseModel):
    field: str  # where: condition.all[2].gte
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class DefinitionError(Exception):
    """A definition that cannot be saved; `problems` holds every one found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = list(problems)


def parse_definition(raw: Any) -> SegmentDefinition:
    """The definition in `raw` (parsed YAML or JSON), or DefinitionError with every problem."""
    if not isinstance(raw, dict):
        raise DefinitionError([Problem(field="definition", reason="expected a mapping")])
    try:
        return SegmentDefinition.model_validate(raw)
    except ValidationError as err:
        raise DefinitionError([problem for e in err.errors() for problem in _problems(e)]) from None


def _problems(error: ErrorDetails) -> list[Problem]:
    path = _path(error["loc"])
    reason = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        if key in _TAGS:
            reason = "all, any and not go alone in their mapping"
        else:
            reason = (
                f"unknown key {key!r}: a rule takes field, one operator"
                f" ({', '.join(OPERATORS)}) and, for counts, event/type/within"
            )
    elif error["type"] == "union_tag_invalid":
        reason = "expected a condition: all, any, not, or a rule with a field"
    if error["type"] != "value_error":
        return [Problem(field=path or "definition", reason=reason)]
    problems = []
    for line in reason.split("\n"):  # a rule reports "key: reason" lines; the key joins the path
        key, sep, rest = line.partition(": ")
        if sep and " " not in key:
            problems.append(Problem(field=f"{path}.{key}" if path else key, reason=rest))
        else:
            problems.append(Problem(field=path or "definition", reason=line))
    return problems


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if part in ("all-of", "any-of", "not-of", "rule-of"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{'in' if part == 'in_' else 'not' if part == 'not_' else part}"
    return out.lstrip(".")

"""Journey specs: the YAML a marketer or developer writes, as pydantic models.

A spec is data interpreted by JourneyWorkflow. It travels as workflow input, so a run keeps the
version it entered with and replays the same way forever. Import-light (pydantic only).
"""

import ast
import datetime as dt
import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from journeys.vocabulary.events import Stage
from journeys.vocabulary.expressions import check, names_read

Channel = Literal["email", "sms", "push", "webhook", "popover"]
Recommender = Literal["trending", "people_like_you", "related", "bought_together", "similar"]
CHANNELS: tuple[str, ...] = get_args(Channel)
RECOMMENDERS: tuple[str, ...] = get_args(Recommender)
# The kinds this version's JourneyWorkflow runs; publishing refuses any other.
RUNNABLE_KINDS = ("wait", "wait_until", "wait_for_event", "branch", "send", "experiment",
                  "human_task", "update_profile", "recommend", "decide", "exit")  # fmt: skip
EVENTS_KEPT = 100  # events a run keeps for its later `wait_for_event` steps (the latest)
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^\s*\d+\s*[smhdw]\s*$",
    "examples": ["30m", "2h", "3d"],
}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _duration(value: Any) -> Any:
    """`30m`, `2h`, `3d`, `1w`: whole units, so a stored spec reads back exactly."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30m, 2h, 3d or 1w")
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    if isinstance(value, timedelta):
        return value
    raise ValueError(f"{value!r} is not a duration like 30m, 2h, 3d or 1w")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _expression(value: str | None) -> str | None:
    if value is not None and (reason := check(value)):
        raise ValueError(reason)
    return value


def _show(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _clock(value: Any) -> Any:
    """YAML reads an unquoted 10:30 as the number 630: refuse it rather than mean 00:10:30."""
    if not isinstance(value, str | time):
        raise ValueError(f"{value!r} is not a time of day; write it quoted, like '09:30'")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    AfterValidator(_positive),
    PlainSerializer(_show, return_type=str, when_used="json"),
    WithJsonSchema(_DURATION_SCHEMA),
]
ClockTime = Annotated[
    time,
    BeforeValidator(_clock),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}$", "examples": ["09:30"]}),
]
StepId = Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=64)]
# `correlate: cart_id`: the event counts only if its property equals the trigger event's, so a
# run started by one cart waits for that cart's order, not any order.
Correlate = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventMatch(_Model):
    """An event by name, with an optional condition (`properties.total > 50`)."""

    event: str = Field(min_length=1)
    where: str | None = None
    correlate: Correlate | None = None

    _check_where = field_validator("where")(_expression)


class StageMatch(_Model):
    to: Stage | None = None
    from_: Stage | None = Field(default=None, alias="from")


class Trigger(_Model):
    """What starts a run: exactly one of an event, a stage change, entering or leaving a segment."""

    event: str | None = None
    where: str | None = None
    stage_changed: StageMatch | None = None
    segment_entered: str | None = None
    segment_exited: str | None = None

    _check_where = field_validator("where")(_expression)

    @model_validator(mode="after")
    def _exactly_one(self) -> "Trigger":
        kinds = [self.event, self.stage_changed, self.segment_entered, self.segment_exited]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError(
                "name exactly one of event, stage_changed, segment_entered, segment_exited"
            )
        if self.where is not None and self.event is None:
            raise ValueError("where: only an event trigger has a condition")
        return self


class Goal(EventMatch):
    """The conversion: reaching it ends the run as converted, from whichever step it is on."""

    within: Duration | None = None


class ReEntry(_Model):
    policy: Literal["never", "cooldown", "always"] = "never"
    cooldown: Duration | None = None

    @model_validator(mode="after")
    def _cooldown(self) -> "ReEntry":
        if (self.policy == "cooldown") != (self.cooldown is not None):
            raise ValueError("cooldown is required with policy cooldown, and only then")
        return self


class _Step(_Model):
    id: StepId
    next: StepId | None = None  # default: the step below; the run ends after the last one


class Wait(_Step):
    kind: Literal["wait"]
    duration: Duration


class WaitUntil(_Step):
    """Until a local time of day in the customer's zone (trait `timezone`, else `default_tz`)."""

    kind: Literal["wait_until"]
    time: ClockTime
    default_tz: str = "UTC"

    @field_validator("time")
    @classmethod
    def _naive(cls, value: dt.time) -> dt.time:  # `dt.`: the field `time` shadows the class here
        if value.tzinfo is not None:
            raise ValueError("a local time of day takes no offset; the zone is the customer's")
        return value

    @field_validator("default_tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value


class WaitForEvent(_Step):
    kind: Literal["wait_for_event"]
    event: str = Field(min_length=1)
    where: str | None = None
    correlate: Correlate | None = None
    timeout: Duration
    on_event: StepId | None = None  # default: next
    on_timeout: StepId | None = None  # default: next
    # `entry`: an event that arrived since the run entered counts (one viewed during a delay);
    # `step`: only one that arrives once the run is at this step (a reaction to the send
    # before it)
    since: Literal["entry", "step"] = "entry"

    _check_where = field_validator("where")(_expression)


class BranchCase(_Model):
    when: str
    goto: StepId

    _check_when = field_validator("when")(_expression)


class Branch(_Step):
    kind: Literal["branch"]
    cases: list[BranchCase] = Field(min_length=1)
    otherwise: StepId | None = None  # default: next


class Send(_Step):
    kind: Literal["send"]
    channel: Channel
    template: str = Field(min_length=1)
    fallback: Channel | None = None


class Recommend(_Step):
    kind: Literal["recommend"]
    recommender: Recommender
    count: int = Field(default=4, ge=1, le=50)
    save_as: str = Field(default="products", pattern=r"^[a-z_][a-z0-9_]*$")


class Variant(_Model):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    # 0 takes the variant out of the traffic (a promoted winner's rivals) but keeps it in the
    # spec, so a revert restores the split and customers get their old variant back.
    weight: float = Field(ge=0)
    goto: StepId


class Promote(_Model):
    """Auto-promotion of an experiment's winner (the `experiment-evaluation` schedule): once a
    variant beats every other in the split with confidence `probability` by a sequential test
    that stays valid however often it is evaluated, every variant has at least
    `min_exposures` and the split shows no sample ratio mismatch, a new version gives it all
    the traffic (weight 1, the others 0)."""

    min_exposures: int = Field(default=200, ge=1)
    probability: float = Field(default=0.95, gt=0.5, lt=1)


class Experiment(_Step):
    kind: Literal["experiment"]
    variants: list[Variant] = Field(min_length=2)
    # Left out of the stored document when unset: specs published before it keep their hash.
    promote: Promote | None = Field(default=None, exclude_if=lambda value: value is None)

    @field_validator("variants")
    @classmethod
    def _unique(cls, variants: list[Variant]) -> list[Variant]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be unique")
        if not any(v.weight > 0 for v in variants):
            raise ValueError("at least one variant needs a weight above 0")
        return variants


class Action(_Model):
    """One offer a `decide` step may choose: its value if the customer converts after it, and
    an optional condition that makes it eligible."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    goto: StepId
    value: float = Field(ge=0)
    when: str | None = None

    _check_when = field_validator("when")(_expression)


class Decide(_Step):
    """Next best action: among the eligible actions, the highest expected value — a Thompson
    sample of the action's conversion rate (Beta posterior over past decisions of this step)
    times its value plus, with `use_clv`, the customer's predicted CLV (a kept customer is
    worth more than the offer's margin). Without an eligible action the run goes `otherwise`."""

    kind: Literal["decide"]
    actions: list[Action] = Field(min_length=1)
    use_clv: bool = True
    otherwise: StepId | None = None  # default: next

    @field_validator("actions")
    @classmethod
    def _unique(cls, actions: list[Action]) -> list[Action]:
        names = [a.name for a in actions]
        if len(set(names)) != len(names):
            raise ValueError("action names must be unique")
        return actions


class HumanTask(_Step):
    kind: Literal["human_task"]
    team: str = Field(min_length=1)
    title: str = Field(min_length=1)
    outcomes: dict[str, StepId] = Field(min_length=1)  # outcome name -> step
    deadline: Duration
    escalate_to: str | None = None  # team that gets the task after the deadline
    on_deadline: StepId | None = None  # default: next


class UpdateProfile(_Step):
    kind: Literal["update_profile"]
    traits: dict[str, Any] = Field(min_length=1)


class Exit(_Step):
    kind: Literal["exit"]
    reason: str = "exit"


Step = Annotated[
    Wait
    | WaitUntil
    | WaitForEvent
    | Branch
    | Send
    | Recommend
    | Experiment
    | Decide
    | HumanTask
    | UpdateProfile
    | Exit,
    Field(discriminator="kind"),
]


WAITING_STEPS = (Wait, WaitUntil, WaitForEvent, HumanTask)  # a loop needs one of these


class JourneySpec(_Model):
    """One journey. `name` is its identity across versions."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    description: str = ""
    trigger: Trigger
    goal: Goal | None = None
    exits: list[EventMatch] = Field(default_factory=list)
    re_entry: ReEntry = ReEntry()
    # The share of entrants held out (by a hash of the customer id: the same customer is held
    # out on every entry): they enter and go through the steps, but nothing is sent to them, so
    # the goal rate of both groups measures what the journey adds. Left out of the stored
    # document when 0: specs published before it keep their hash.
    holdout: float = Field(default=0.0, ge=0, le=0.5, exclude_if=lambda value: value == 0)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self) -> "JourneySpec":
        ids = [step.id for step in self.steps]
        problems = [
            f"steps: duplicate ids {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}"
        ]
        problems = problems if len(set(ids)) != len(ids) else []
        for index, step in enumerate(self.steps):
            for field, target in step_targets(step):
                if target not in ids:
                    problems.append(f"steps[{index}].{field}: no step {target!r}")
        if self.trigger.event is None:
            problems += [f"{where}.correlate: only a journey triggered by an event can correlate"
                         for where, _ in self.correlations()]  # fmt: skip
        problems += self._unreadable_names()
        if self.holdout and self.goal is None:
            problems.append("holdout: a holdout measures the goal, so the journey needs one")
        if not problems and (loop := self._loop_without_wait()):
            problems.append(
                f"steps: {' -> '.join(loop)} is a loop with no wait in it (a run would go round "
                "it without end); put a wait, wait_until, wait_for_event or human_task in it"
            )
        if problems:  # every dangling reference at once, not one per attempt
            raise ValueError("; ".join(problems))
        return self

    def correlations(self) -> list[tuple[str, "EventMatch | WaitForEvent"]]:
        """Where the spec correlates events with its trigger, and how (for checks)."""
        matches: list[tuple[str, EventMatch | WaitForEvent]] = []
        if self.goal:
            matches.append(("goal", self.goal))
        matches += [(f"exits[{i}]", rule) for i, rule in enumerate(self.exits)]
        matches += [(f"steps[{i}]", s) for i, s in enumerate(self.steps)
                    if isinstance(s, WaitForEvent)]  # fmt: skip
        return [(where, match) for where, match in matches if match.correlate]

    def events_awaited(self) -> list[str]:
        """The event keys a run in flight reacts to: its goal, its exits and its
        `wait_for_event` steps. The customer passes a run only these."""
        waited = {step.event for step in self.steps if isinstance(step, WaitForEvent)}
        return sorted(self._ruled() | waited)

    def _ruled(self) -> set[str]:
        """The event keys the goal and the exits name: a run takes them from its entry on."""
        return {rule.event for rule in [*self.exits, *([self.goal] if self.goal else [])]}

    def listen_delays(self) -> dict[str, timedelta]:
        """The event keys a run cannot react to until some time after its entry, with that
        time: keys only a `since: step` wait reads, the step a fixed wait or more into the
        journey (welcome's product views before its 30-minute settle). The customer does not
        pass the run such an event before then; the run would leave it aside anyway."""
        reach = self._earliest_reach()
        delays: dict[str, timedelta] = {}
        for step in self.steps:
            if isinstance(step, WaitForEvent) and step.id in reach:
                soonest = reach[step.id] if step.since == "step" else timedelta(0)
                delays[step.event] = min(delays.get(step.event, soonest), soonest)
        for key in self._ruled():
            delays[key] = timedelta(0)  # a goal or an exit counts from entry
        return {key: delay for key, delay in sorted(delays.items()) if delay > timedelta(0)}

    def listen_limits(self) -> dict[str, int]:
        """The event keys a run uses only so many of: each `wait_for_event` takes one event,
        so where the waits on a key count from entry, take any event of it (no `where`, no
        `correlate`) and sit in no loop, and neither the goal nor an exit names it, a run uses
        at most as many as it has such waits (post_purchase's first app open, of a customer
        who opens the app ten times a day). The customer passes it no more. Only where every
        key the waits read is limited, within what a run keeps: a run keeps the latest
        EVENTS_KEPT events, and others arriving could push out the one a limit let through."""
        waits: dict[str, list[WaitForEvent]] = {}
        for step in self.steps:
            if isinstance(step, WaitForEvent):
                waits.setdefault(step.event, []).append(step)
        named = self._ruled()
        looping = self._in_loops()
        limits = {
            key: len(steps)
            for key, steps in sorted(waits.items())
            if key not in named
            and all(s.since == "entry" and s.where is None and s.correlate is None
                    and s.id not in looping for s in steps)
        }  # fmt: skip
        if len(limits) < len(waits) or sum(limits.values()) > EVENTS_KEPT:
            return {}
        return limits

    def _in_loops(self) -> set[str]:
        """The ids of the steps a run can come back to."""
        looping = set()
        for step in self.steps:
            seen, todo = set(), list(self.successors(step))
            while todo:
                current = todo.pop()
                if current == step.id:
                    looping.add(step.id)
                    break
                if current not in seen:
                    seen.add(current)
                    todo += self.successors(self.step(current))
        return looping

    def _earliest_reach(self) -> dict[str, timedelta]:
        """The soonest a run can be at each step it can reach, after entry: the `wait` steps'
        durations on the quickest path (every other step counted as instant, so a lower
        bound)."""
        reach = {self.steps[0].id: timedelta(0)}
        todo = [self.steps[0].id]
        while todo:  # few steps: relax until no step is reached sooner
            step = self.step(todo.pop())
            leave = reach[step.id] + (step.duration if isinstance(step, Wait) else timedelta(0))
            for target in self.successors(step):
                if target not in reach or leave < reach[target]:
                    reach[target] = leave
                    todo.append(target)
        return reach

    def segments_named(self) -> list[tuple[str, str]]:
        """(where, segment) for every segment the spec names: its trigger, and string literals
        tested against `segments` in conditions (`"vip" in segments`)."""
        named = [(f"trigger.{key}", value) for key in ("segment_entered", "segment_exited")
                 if (value := getattr(self.trigger, key))]  # fmt: skip
        conditions: list[tuple[str, str | None]] = []
        for i, step in enumerate(self.steps):
            if isinstance(step, Branch):
                conditions += [(f"steps[{i}].cases[{j}].when", case.when)
                               for j, case in enumerate(step.cases)]  # fmt: skip
            elif isinstance(step, Decide):
                conditions += [(f"steps[{i}].actions[{j}].when", action.when)
                               for j, action in enumerate(step.actions)]  # fmt: skip
        return named + [(where, n) for where, when in conditions if when
                        for n in _segment_literals(when)]  # fmt: skip

    def _unreadable_names(self) -> list[str]:
        """Conditions on an event see the event alone: a trigger's also the customer's stage
        now, but a run's goal, exits and waits judge events as they arrive, where the stage
        would be the one at entry. Names they cannot read are refused, not read as empty."""
        sites: list[tuple[str, str | None, tuple[str, ...]]] = [
            ("trigger.where", self.trigger.where, ("properties", "event", "stage")),
        ]
        if self.goal:
            sites.append(("goal.where", self.goal.where, ("properties", "event")))
        sites += [(f"exits[{i}].where", rule.where, ("properties", "event"))
                  for i, rule in enumerate(self.exits)]  # fmt: skip
        sites += [(f"steps[{i}] (id {s.id!r}).where", s.where, ("properties", "event"))
                  for i, s in enumerate(self.steps) if isinstance(s, WaitForEvent)]  # fmt: skip
        problems = []
        for where, expression, readable in sites:
            unreadable = sorted(names_read(expression) - set(readable)) if expression else []
            if unreadable:
                problems.append(
                    f"{where}: {', '.join(unreadable)} cannot be read in this condition (it "
                    f"reads {', '.join(readable)}); test traits, segments or the stage in a "
                    "branch step"
                )
        return problems

    def successors(self, step: "Step") -> list[str]:
        """The steps a run can go to from `step` (JourneyWorkflow's `_step`, read statically)."""
        after = self.after(step.id)
        if isinstance(step, Exit):
            return []
        if isinstance(step, Experiment):
            return [variant.goto for variant in step.variants]
        targets = [target for field, target in step_targets(step) if field != "next"]
        fallback = None
        if isinstance(step, Branch | Decide):
            fallback = step.otherwise or after
        elif isinstance(step, HumanTask):
            fallback = step.on_deadline or after
        elif isinstance(step, WaitForEvent):
            targets = [step.on_event or after, step.on_timeout or after]  # type: ignore[list-item]
        else:
            fallback = after
        return [t for t in dict.fromkeys([*targets, fallback]) if t is not None]

    def _loop_without_wait(self) -> list[str]:
        """A cycle of steps none of which waits (for time, an event or a person), as its step
        ids from the first again to the first; [] when there is none."""
        passing = {s.id: s for s in self.steps if not isinstance(s, WAITING_STEPS)}
        state: dict[str, int] = {}  # 1: on the path, 2: done
        path: list[str] = []

        def visit(step_id: str) -> list[str]:
            state[step_id] = 1
            path.append(step_id)
            for target in self.successors(passing[step_id]):
                if target not in passing or state.get(target) == 2:
                    continue
                if state.get(target) == 1:
                    return [*path[path.index(target) :], target]
                if loop := visit(target):
                    return loop
            path.pop()
            state[step_id] = 2
            return []

        for step_id in passing:
            if step_id not in state and (loop := visit(step_id)):
                return loop
        return []

    def step(self, step_id: str) -> "Step":
        return next(s for s in self.steps if s.id == step_id)

    def after(self, step_id: str) -> str | None:
        """The step a step goes to by default: its `next`, else the one below, else the end."""
        index = next(i for i, s in enumerate(self.steps) if s.id == step_id)
        step = self.steps[index]
        if step.next:
            return step.next
        return self.steps[index + 1].id if index + 1 < len(self.steps) else None


def _segment_literals(expression: str) -> list[str]:
    """The strings an expression tests for membership in `segments`."""
    found = []
    for node in ast.walk(ast.parse(expression, mode="eval")):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            is_segments = isinstance(right, ast.Name) and right.id == "segments"
            if isinstance(op, ast.In | ast.NotIn) and is_segments:
                if isinstance(left, ast.Constant) and isinstance(left.value, str):
                    found.append(left.value)
    return found


def step_targets(step: Any) -> list[tuple[str, str]]:
    """Every (field, step id) a step can jump to."""
    targets = [("next", step.next)] if step.next else []
    for name in ("on_event", "on_timeout", "otherwise", "on_deadline"):
        if getattr(step, name, None):
            targets.append((name, getattr(step, name)))
    for i, case in enumerate(getattr(step, "cases", [])):
        targets.append((f"cases[{i}].goto", case.goto))
    for i, variant in enumerate(getattr(step, "variants", [])):
        targets.append((f"variants[{i}].goto", variant.goto))
    for i, action in enumerate(getattr(step, "actions", [])):
        targets.append((f"actions[{i}].goto", action.goto))
    for outcome, target in getattr(step, "outcomes", {}).items():
        targets.append((f"outcomes.{outcome}", target))
    return targets


def unrunnable_steps(spec: JourneySpec) -> list[str]:
    """Steps this version's JourneyWorkflow could not run, one problem line each."""
    return [
        f"steps[{i}] (id {step.id!r}).kind: {step.kind!r} is not supported yet; "
        f"runnable kinds: {', '.join(RUNNABLE_KINDS)}"
        for i, step in enumerate(spec.steps)
        if step.kind not in RUNNABLE_KINDS
    ]

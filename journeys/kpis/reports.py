"""Report figures from the store's raw counts (store/kpis.py): conversion rates with Wilson
intervals, experiment results, the lifecycle funnel, NPS per period and journey, and the
historic CLV distribution. Pure: no I/O, so the API, the page and the CLI show the same numbers.
"""

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np

from journeys.kpis.experiments import ArmResult, wilson
from journeys.kpis.nps import Nps, nps
from journeys.vocabulary.events import Stage

Period = Literal["day", "week", "month"]
STAGES = [stage.value for stage in Stage]  # awareness → ... → advocacy
NEXT_STAGE = dict(zip(STAGES, STAGES[1:], strict=False))


@dataclass(frozen=True)
class Conversion:
    key: str
    entries: int
    conversions: int
    rate: float
    low: float  # Wilson 95% interval
    high: float
    group: str = ""


@dataclass(frozen=True)
class JourneyConversion(Conversion):
    """A journey's row: `no_goal` when its spec has no goal (its runs cannot convert)."""

    no_goal: bool = False


def conversion(key: str, entries: int, conversions: int, group: str = "") -> Conversion:
    low, high = wilson(conversions, entries)
    rate = conversions / entries if entries else 0.0
    return Conversion(key, entries, conversions, rate, low, high, group)


def rate_text(part: int, whole: int) -> str:
    """A rate with its Wilson 95% interval as the pages print it, "25.0% [4.6–69.9]"; "–"
    with nothing to divide by."""
    if not whole:
        return "–"
    low, high = wilson(part, whole)
    return f"{100 * part / whole:.1f}% [{100 * low:.1f}–{100 * high:.1f}]"


def conversions(rows: Iterable[Any]) -> list[Conversion]:
    """From store.kpis.Counts rows (key, entries, conversions, group)."""
    return [conversion(r.key, r.entries, r.conversions, r.group) for r in rows]


@dataclass(frozen=True)
class Engagement:
    """A send step's messages that went out: bounced, and opened and clicked by the person
    (as rates of those sent, with Wilson intervals) and by a machine (counted apart)."""

    step: str
    sent: int
    bounced: int
    opened: Conversion
    clicked: Conversion
    machine_opened: int
    machine_clicked: int


def engagement(step: str, counts: dict[str, int]) -> Engagement:
    """From store.journey_map.engagement_by_step's counts for one step."""
    sent = counts.get("sent", 0)
    return Engagement(
        step=step, sent=sent, bounced=counts.get("bounced", 0),
        opened=conversion("opened", sent, counts.get("opened", 0)),
        clicked=conversion("clicked", sent, counts.get("clicked", 0)),
        machine_opened=counts.get("machine opened", 0),
        machine_clicked=counts.get("machine clicked", 0),
    )  # fmt: skip


@dataclass(frozen=True)
class Lift:
    """What a journey adds over doing nothing: the goal rate of the runs that got its messages
    against the runs held out of them (the journey's holdout group, or the global control
    group), the difference in points and the ratio, each with a 95% interval (Newcombe's for
    the difference, the adjusted log for the ratio; statsmodels), and the two-sided p-value."""

    group: str  # "holdout" | "global control"
    treated: Conversion
    held: Conversion
    difference: float | None  # treated rate - held rate
    difference_low: float | None
    difference_high: float | None
    relative: float | None  # treated rate / held rate - 1
    relative_low: float | None
    relative_high: float | None
    p_value: float | None


def lift_text(doc: dict[str, Any]) -> str:
    """A Lift (as JSON) in one sentence, for the CLI, the console and the report page."""
    a, b = doc["treated"], doc["held"]

    def rate(c: dict[str, Any]) -> str:
        return f"{100 * c['rate']:.1f}% [{100 * c['low']:.1f}% – {100 * c['high']:.1f}%]"

    text = (f"{doc['group']}: goal rate {rate(a)} of {a['entries']:,} runs that got the messages,"
            f" {rate(b)} of {b['entries']:,} held out")  # fmt: skip
    if doc["difference"] is None:
        return text + "; no comparison until both groups have runs"
    low, high = 100 * doc["difference_low"], 100 * doc["difference_high"]
    text += f"; the messages add {100 * doc['difference']:+.1f} points [{low:+.1f} – {high:+.1f}]"
    if doc["relative"] is not None:
        text += (f" ({100 * doc['relative']:+.0f}% [{100 * doc['relative_low']:+.0f}% –"
                 f" {100 * doc['relative_high']:+.0f}%])")  # fmt: skip
    if doc["p_value"] is not None:
        text += f", p = {doc['p_value']:.2g}"
    return text


@dataclass(frozen=True)
class RateDifference:
    """One rate minus another (conversions over entries of two independent groups), with its
    95% interval (Newcombe's) and the two-sided p-value of "no difference" (score test)."""

    difference: float
    low: float
    high: float
    p_value: float | None  # None where the test is undefined (neither group converted...)


def rate_difference(first: tuple[int, int], second: tuple[int, int]) -> RateDifference | None:
    """`first`'s rate minus `second`'s, from (entries, conversions) of each; None unless both
    have entries."""
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    (entries_a, conversions_a), (entries_b, conversions_b) = first, second
    if not (entries_a and entries_b):
        return None
    counts = (conversions_a, entries_a, conversions_b, entries_b)
    low, high = confint_proportions_2indep(*counts, method="newcomb", compare="diff")
    with np.errstate(divide="ignore", invalid="ignore"):  # it computes the ratio too
        p = float(test_proportions_2indep(*counts, method="score", compare="diff").pvalue)
    difference = conversions_a / entries_a - conversions_b / entries_b
    return RateDifference(difference, float(low), float(high), None if np.isnan(p) else p)


def lift(group: str, treated: tuple[int, int], held: tuple[int, int]) -> Lift:
    """From (entries, conversions) of each group; the comparison needs entries in both, the
    ratio a conversion among the held."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    a, b = conversion("treated", *treated), conversion(group, *held)
    gap = rate_difference(treated, held)
    if gap is None:
        return Lift(group, a, b, None, None, None, None, None, None, None)
    relative = relative_low = relative_high = None
    if b.conversions and a.conversions:
        counts = (a.conversions, a.entries, b.conversions, b.entries)
        ratio_low, ratio_high = confint_proportions_2indep(*counts, method="log-adjusted",
                                                           compare="ratio")  # fmt: skip
        relative = a.rate / b.rate - 1
        relative_low, relative_high = float(ratio_low) - 1, float(ratio_high) - 1
    return Lift(group, a, b, gap.difference, gap.low, gap.high, relative, relative_low,
                relative_high, gap.p_value)  # fmt: skip


@dataclass(frozen=True)
class Variant(ArmResult):
    """An arm's result with the share of traffic its version gives it."""

    weight: float


@dataclass(frozen=True)
class ExperimentResult:
    step: str
    variants: list[Variant]
    p_value: float | None  # chi-square, "no difference between variants"
    always_valid_p_value: float | None  # the best against the rest, valid at any look
    srm_p_value: float | None
    sample_ratio_mismatch: bool


def experiment_summaries(results: Iterable[Any]) -> list[ExperimentResult]:
    """The experiments' results (kpis.experiment_results: every version's runs, each expected
    in its own version's split, as auto-promotion sees them) in the report's shape."""
    summaries = []
    for result in results:
        analysis = result.analysis
        variants = [
            Variant(**asdict(a), weight=result.weights.get(a.name, 0.0)) for a in analysis.arms
        ]
        summaries.append(
            ExperimentResult(result.step, variants, analysis.p_value,
                             analysis.always_valid_p_value, analysis.srm_p_value,
                             analysis.sample_ratio_mismatch)
        )  # fmt: skip
    return summaries


# -- lifecycle funnel ------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    customers: int  # who entered the stage (in the period)
    next_stage: str | None
    advanced: int  # of those, who later entered the next stage
    rate: float | None
    median_days: float | None  # time in stage, over finished stays
    mean_days: float | None
    stays: int  # finished stays measured
    still_in: int


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    count: int
    backward: bool  # against the lifecycle's order (loyalty -> consideration)


@dataclass(frozen=True)
class Funnel:
    stages: list[FunnelStage]
    moves: list[Move]


def funnel(figures: Any) -> Funnel:
    """From store.kpis.FunnelFigures; stages in lifecycle order, then any unknown ones."""
    lengths: dict[str, list[float]] = defaultdict(list)
    for stage, seconds in figures.stays:
        lengths[stage].append(seconds / 86400.0)
    known = STAGES + sorted(set(figures.customers) - set(STAGES))
    stages = []
    for stage in known:
        entered = figures.customers.get(stage, 0)
        following = NEXT_STAGE.get(stage)
        advanced = figures.advanced.get(stage, 0) if following else 0
        days = lengths.get(stage, [])
        stages.append(
            FunnelStage(
                stage=stage,
                customers=entered,
                next_stage=following,
                advanced=advanced,
                rate=advanced / entered if following and entered else None,
                median_days=statistics.median(days) if days else None,
                mean_days=statistics.fmean(days) if days else None,
                stays=len(days),
                still_in=figures.open_stays.get(stage, 0),
            )  # fmt: skip
        )
    rank = {stage: i for i, stage in enumerate(known)}
    moves = [
        Move(a, b, n, rank.get(b, 0) < rank.get(a, 0))
        for (a, b), n in sorted(figures.moves.items(), key=lambda m: (-m[1], m[0]))
    ]
    return Funnel(stages, moves)


# -- NPS -------------------------------------------------------------------------------------


def bucket(at: datetime, period: Period) -> date:
    """The UTC day, week (its Monday) or month (its 1st) of an instant."""
    day = at.astimezone(UTC).date() if at.tzinfo else at.date()
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def nps_score(value: Any) -> int | None:
    """An answer's score if it is a whole number 0-10 (9 or 9.0; not "9", not True)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 0 <= value <= 10 else None


@dataclass(frozen=True)
class NpsFigure:
    key: str  # a period's first day, a journey, or "all"
    responses: int
    promoters: int
    passives: int
    detractors: int
    score: float | None


def _figure(key: str, result: Nps) -> NpsFigure:
    return NpsFigure(key, result.responses, result.promoters, result.passives,
                     result.detractors, result.score)  # fmt: skip


@dataclass(frozen=True)
class NpsReport:
    period: str
    journey: str | None  # only answers attributed to this journey, when set
    overall: NpsFigure
    trend: list[NpsFigure]
    journeys: list[NpsFigure]
    ignored: int = 0  # answers without a 0-10 whole-number score


def nps_report(
    answers: Iterable[Any],
    attribution: Iterable[tuple[str, str]],
    period: Period,
    journey: str | None = None,
) -> NpsReport:
    """From store.kpis answers and (answer, journey) attributions: the overall score, the
    trend per period and the score per journey (an answer counts for every journey it is
    attributed to)."""
    journeys_of: dict[str, set[str]] = defaultdict(set)
    for message_id, name in attribution:
        journeys_of[message_id].add(name)
    scored, ignored = [], 0
    for answer in answers:
        score = nps_score(answer.score)
        if score is None:
            ignored += 1
        elif journey is None or journey in journeys_of[answer.message_id]:
            scored.append((answer, score))
    per_period: dict[date, list[int]] = defaultdict(list)
    per_journey: dict[str, list[int]] = defaultdict(list)
    for answer, score in scored:
        per_period[bucket(answer.at, period)].append(score)
        for name in journeys_of[answer.message_id]:
            if journey is None or name == journey:
                per_journey[name].append(score)
    return NpsReport(
        period=period,
        journey=journey,
        overall=_figure("all", nps(score for _, score in scored)),
        trend=[_figure(day.isoformat(), nps(per_period[day])) for day in sorted(per_period)],
        journeys=[_figure(name, nps(per_journey[name])) for name in sorted(per_journey)],
        ignored=ignored,
    )


# -- historic CLV ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClvSummary:
    customers: int  # with at least one order
    total: float
    mean: float | None
    median: float | None
    p90: float | None
    top: list[Any] = field(default_factory=list)  # the most valuable customers


def clv_summary(values: list[Any], top: int = 10) -> ClvSummary:
    """From store.kpis.CustomerValue rows: the distribution of historic value per customer
    (p90 by linear interpolation, numpy's default)."""
    totals = np.array([v.total for v in values], dtype=float)
    if not len(totals):
        return ClvSummary(0, 0.0, None, None, None)
    ranked = sorted(values, key=lambda v: (-v.total, v.customer_id))[:top]
    return ClvSummary(
        customers=len(totals),
        total=float(totals.sum()),
        mean=float(totals.mean()),
        median=float(np.median(totals)),
        p90=float(np.percentile(totals, 90)),
        top=ranked,
    )


def as_json(value: Any) -> Any:
    """Dataclasses, dates and tuples as JSON-ready values (dates in ISO 8601)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: as_json(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value

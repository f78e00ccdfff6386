"""The report documents the API, the report page and `journeys report` show: store/kpis.py's
queries shaped by kpis/reports.py, so all three give the same figures."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from journeys.kpis import reports
from journeys.kpis.experiment_results import experiment_results
from journeys.store import kpis
from journeys.store.experiments import experiment_exposures
from journeys.store.journey_map import engagement_by_step
from journeys.store.kpis import RunFilter
from journeys.vocabulary.holdouts import held_out, in_global_control

NPS_WINDOW_DAYS = 30.0  # an answer speaks of the journeys entered this long before it


@dataclass(frozen=True)
class JourneyReport:
    journey: str
    version: int | None
    conversion: reports.Conversion
    steps: list[reports.Conversion]
    experiments: list[reports.ExperimentResult]
    segments: list[reports.Conversion]
    over_time: list[reports.Conversion]  # key: the period's first day (UTC)
    period: str
    # per send step, its messages sent in the period (every version: messages carry none)
    engagement: list[reports.Engagement] = field(default_factory=list)
    holdout: reports.Lift | None = None  # when a counted version holds entrants out
    global_control: reports.Lift | None = None  # when JOURNEYS_GLOBAL_CONTROL is set
    no_goal: bool = False  # its spec has no goal: conversions are not a figure of it


def journeys_report(session: Session, *, runs: RunFilter) -> list[reports.JourneyConversion]:
    goalless = kpis.goalless_journeys(session, version=runs.version)
    return [
        reports.JourneyConversion(**vars(row), no_goal=row.key in goalless)
        for row in reports.conversions(kpis.conversion_by_journey(session, runs=runs))
    ]


class UnknownVersion(LookupError):
    """A version filter naming a version the journey never had."""


class UnknownJourney(LookupError):
    """A journey filter naming a journey never published nor recorded."""


def journey_report(
    session: Session, *, name: str, runs: RunFilter, period: reports.Period = "week",
    global_control: float = 0.0,
) -> JourneyReport | None:  # fmt: skip
    """None if no journey of that name was published or recorded; UnknownVersion (saying which
    there are) for a version it never had, whose report would be all noughts."""
    if not kpis.journey_known(session, name=name):
        return None
    if runs.version is not None:
        versions = kpis.journey_versions(session, name=name)
        if runs.version not in versions:
            known = ", ".join(map(str, versions))
            raise UnknownVersion(f"journey {name!r} has no version {runs.version} (it has {known})")
    runs = RunFilter(journey=name, version=runs.version, start=runs.start, end=runs.end)
    total = kpis.conversion_by_journey(session, runs=runs)
    entries = total[0].entries if total else 0
    converted = total[0].conversions if total else 0
    return JourneyReport(
        journey=name,
        version=runs.version,
        conversion=reports.conversion(name, entries, converted),
        steps=reports.conversions(_every_step(session, name=name, runs=runs)),
        experiments=reports.experiment_summaries(
            experiment_results(experiment_exposures(session, journey=name, version=runs.version))
        ),
        segments=reports.conversions(kpis.conversion_by_segment(session, runs=runs)),
        over_time=reports.conversions(kpis.conversion_over_time(session, runs=runs, period=period)),
        period=period,
        engagement=[
            reports.engagement(step, counts)
            for step, counts in engagement_by_step(
                session, journey=name, start=runs.start, end=runs.end
            ).items()
        ],
        **held_groups(session, name=name, runs=runs, global_control=global_control),
        no_goal=name in kpis.goalless_journeys(session, version=runs.version),
    )


def _every_step(session: Session, *, name: str, runs: RunFilter) -> list[kpis.Counts]:
    """Each step in the spec's order, those no run reached with none (a step nobody gets to is
    news to its marketer), then any recorded step the specs no longer list."""
    reached = {counts.key: counts for counts in kpis.conversion_by_step(session, runs=runs)}
    listed = kpis.spec_steps(session, journey=name, version=runs.version)
    steps = [reached.pop(step, kpis.Counts(key=step, entries=0, conversions=0)) for step in listed]
    return steps + list(reached.values())


def held_groups(
    session: Session, *, name: str, runs: RunFilter, global_control: float
) -> dict[str, reports.Lift]:
    """The journey's runs that got its messages against those held out of them: its holdout
    group (each version's share) and the global control group. Runs in either group are left
    out of the other comparison's treated side: they got nothing from this journey."""
    shares = kpis.holdout_shares(session, journey=name)
    outcomes = kpis.run_outcomes(session, runs=runs)
    holding = any(shares.get(version) for version, _, _ in outcomes)
    if not (holding or global_control > 0):
        return {}
    entries: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    for version, customer_id, won in outcomes:
        group = "treated"
        if held_out(name, customer_id, shares.get(version, 0.0)):
            group = "holdout"
        elif in_global_control(customer_id, global_control):
            group = "global control"
        entries[group] += 1
        converted[group] += won
    wanted = {"holdout": holding, "global control": global_control > 0}
    treated = (entries["treated"], converted["treated"])
    return {
        group.replace(" ", "_"): reports.lift(group, treated, (entries[group], converted[group]))
        for group, shown in wanted.items()
        if shown
    }


def funnel_report(
    session: Session, *, start: datetime | None = None, end: datetime | None = None
) -> reports.Funnel:
    figures = kpis.funnel_figures(session, next_stage=reports.NEXT_STAGE, start=start, end=end)
    return reports.funnel(figures)


def nps_report(
    session: Session,
    *,
    period: reports.Period = "week",
    journey: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> reports.NpsReport:
    if journey is not None and not kpis.journey_known(session, name=journey):
        raise UnknownJourney(f"no journey {journey!r}")
    answers = kpis.nps_answers(session, start=start, end=end)
    attribution = kpis.nps_journeys(
        session, window_days=NPS_WINDOW_DAYS, journey=journey, start=start, end=end
    )
    return reports.nps_report(answers, attribution, period, journey)


def clv_report(session: Session) -> reports.ClvSummary:
    return reports.clv_summary(kpis.customer_values(session))

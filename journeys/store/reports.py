"""The report documents the API, the report page and `journeys report` show: store/kpis.py's
queries shaped by kpis/reports.py, so all three give the same figures."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from journeys.kpis import reports
from journeys.kpis.experiment_results import experiment_results
from journeys.store import kpis
from journeys.store.experiments import experiment_exposures
from journeys.store.kpis import RunFilter

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


def journeys_report(session: Session, *, runs: RunFilter) -> list[reports.Conversion]:
    return reports.conversions(kpis.conversion_by_journey(session, runs=runs))


def journey_report(
    session: Session, *, name: str, runs: RunFilter, period: reports.Period = "week"
) -> JourneyReport | None:
    """None if no journey of that name was published or recorded."""
    if not kpis.journey_known(session, name=name):
        return None
    runs = RunFilter(journey=name, version=runs.version, start=runs.start, end=runs.end)
    total = kpis.conversion_by_journey(session, runs=runs)
    entries = total[0].entries if total else 0
    converted = total[0].conversions if total else 0
    return JourneyReport(
        journey=name,
        version=runs.version,
        conversion=reports.conversion(name, entries, converted),
        steps=reports.conversions(c for c, _ in kpis.conversion_by_step(session, runs=runs)),
        experiments=reports.experiment_summaries(
            experiment_results(experiment_exposures(session, journey=name, version=runs.version))
        ),
        segments=reports.conversions(kpis.conversion_by_segment(session, runs=runs)),
        over_time=reports.conversions(kpis.conversion_over_time(session, runs=runs, period=period)),
        period=period,
    )


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
    answers = kpis.nps_answers(session, start=start, end=end)
    attribution = kpis.nps_journeys(
        session, window_days=NPS_WINDOW_DAYS, journey=journey, start=start, end=end
    )
    return reports.nps_report(answers, attribution, period, journey)


def clv_report(session: Session) -> reports.ClvSummary:
    return reports.clv_summary(kpis.customer_values(session))

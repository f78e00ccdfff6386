"""The report page (`GET /reports`): one self-contained HTML document whose charts Plotly
draws in the browser (plotly.js inlined from the installed package: no CDN, no network, no
build step), with tooltips on every point. The page frame (journeys.charts) adds the error sink
and the mark that rendering finished, with what each chart drew, which the browser test reads."""

from dataclasses import dataclass
from html import escape

from journeys.charts import figure, page, table
from journeys.kpis.reports import (
    ClvSummary,
    Conversion,
    ExperimentResult,
    Funnel,
    JourneyConversion,
    NpsReport,
    rate_text,
)


@dataclass(frozen=True)
class PageData:
    journeys: list[JourneyConversion]
    over_time: dict[str, list[Conversion]]  # journey -> per period
    experiments: dict[str, list[ExperimentResult]]  # journey -> experiment steps
    funnel: Funnel
    nps: NpsReport
    clv: ClvSummary
    period: str
    filters: str  # "from ... to ..., version N", as the page says it


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _empty(name: str, message: str) -> str:
    return f'<p class="none" data-empty="{escape(name)}">{escape(message)}</p>'


def line_chart(
    name: str, series: dict[str, list[tuple[str, float]]], low: float, high: float, unit: str
) -> str:
    """One line per series over the periods (placed by date, so a gap without data shows
    as a gap), a point per value with its figure on hover."""
    import plotly.graph_objects as go

    if not any(series.values()):
        return _empty(name, "no data in this period")
    fig = go.Figure()
    for label, points in sorted(series.items()):
        fig.add_scatter(
            x=[key for key, _ in points], y=[value for _, value in points], name=label,
            mode="lines+markers",
            hovertemplate=f"{escape(label)} %{{x}}: %{{y:.1f}}{unit}<extra></extra>",
        )  # fmt: skip
    fig.update_xaxes(type="date")
    pad = (high - low) * 0.04  # points on the edge stay whole
    fig.update_yaxes(range=[low - pad, high + pad], ticksuffix=unit)
    return figure(fig, name, height=300)


def funnel_chart(funnel: Funnel) -> str:
    """A bar per stage, as wide as the customers who entered it; on hover the conversion to
    the next stage and the median time spent in it."""
    import plotly.graph_objects as go

    if not any(s.customers for s in funnel.stages):
        return _empty("funnel", "no lifecycle stages recorded yet")
    notes = []
    for stage in funnel.stages:
        note = f"{_pct(stage.rate)} on to {stage.next_stage}" if stage.next_stage else "last stage"
        if stage.median_days is not None:
            note += f"; median {_num(stage.median_days)} days in it"
        notes.append(note)
    fig = go.Figure(go.Funnel(
        y=[s.stage for s in funnel.stages], x=[s.customers for s in funnel.stages],
        customdata=notes, textinfo="value",
        hovertemplate="%{y}: %{x} customers<br>%{customdata}<extra></extra>",
    ))  # fmt: skip
    return figure(fig, "funnel", height=60 + 48 * len(funnel.stages))


def interval_chart(experiment: ExperimentResult) -> str:
    """Each variant's conversion rate (dot) and 95% interval (whisker) on a 0-100% axis."""
    import plotly.graph_objects as go

    variants = experiment.variants
    fig = go.Figure(go.Scatter(
        x=[v.rate for v in variants], y=[v.name for v in variants], mode="markers",
        marker={"size": 11},
        error_x={"type": "data", "symmetric": False, "array": [v.high - v.rate for v in variants],
                 "arrayminus": [v.rate - v.low for v in variants], "thickness": 3},
        customdata=[[_pct(v.low), _pct(v.high), v.exposures] for v in variants],
        hovertemplate="%{y}: %{x:.1%} [%{customdata[0]} – %{customdata[1]}],"
        " %{customdata[2]} runs<extra></extra>",
    ))  # fmt: skip
    fig.update_xaxes(range=[-0.02, 1.02], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return figure(fig, f"experiment-{experiment.step}", height=90 + 40 * len(variants))


def _rate(c: Conversion) -> list[object]:
    return [c.entries, c.conversions, _pct(c.rate), f"{_pct(c.low)} – {_pct(c.high)}"]


def _journey_rate(c: JourneyConversion) -> list[object]:
    """A journey without a goal has no conversions to count: it says so."""
    return [c.entries, "–", "no goal", "–"] if c.no_goal else _rate(c)


def _experiments(data: PageData) -> str:
    blocks = []
    for journey, results in sorted(data.experiments.items()):
        for result in results:
            warning = ""
            if result.sample_ratio_mismatch:
                warning = (
                    '<p class="warning">⚠ Sample ratio mismatch (p = '
                    f"{result.srm_p_value:.2g}): exposures do not follow the configured weights; "
                    "check assignment and logging before trusting these results.</p>"
                )
            rows = [
                [
                    v.name,
                    f"{v.weight:g}",
                    v.exposures,
                    v.conversions,
                    _pct(v.rate),
                    f"{_pct(v.low)} – {_pct(v.high)}",
                    _pct(v.probability_best),
                ]  # fmt: skip
                for v in result.variants
            ]
            p_value = "–" if result.p_value is None else f"{result.p_value:.3g}"
            valid = result.always_valid_p_value
            always = "–" if valid is None else f"{valid:.3g}"
            blocks.append(
                f'<section class="experiment"><h3>{escape(journey)} · step '
                f"{escape(result.step)}</h3>{warning}"
                + table(
                    [
                        "variant",
                        "weight",
                        "exposures",
                        "conversions",
                        "rate",
                        "95% interval",
                        "P(best)",
                    ],
                    rows,
                )  # fmt: skip
                + interval_chart(result)
                + f'<p class="note">chi-square p = {p_value} (valid for one look); the best'
                f" against the rest, valid however often it is read: p = {always}"
                " (auto-promotion uses this one)</p></section>"
            )
    return "".join(blocks) or '<p class="none">No experiment has exposures in this period.</p>'


def render_page(data: PageData) -> str:
    over_time = {
        journey: [(c.key, 100 * c.rate) for c in rows] for journey, rows in data.over_time.items()
    }
    trend = {"NPS": [(f.key, f.score) for f in data.nps.trend if f.score is not None]}
    funnel_rows = [
        [
            s.stage,
            s.customers,
            s.next_stage or "–",
            s.advanced if s.next_stage else "–",
            rate_text(s.advanced, s.customers) if s.next_stage else "–",
            _num(s.median_days),
            _num(s.mean_days),
            s.still_in,
        ]  # fmt: skip
        for s in data.funnel.stages
    ]
    moves = [[m.source, m.target, m.count, "back" if m.backward else ""] for m in data.funnel.moves]
    nps_rows = [
        [f.key, f.responses, f.promoters, f.passives, f.detractors, _num(f.score)]
        for f in [data.nps.overall, *data.nps.journeys]
    ]
    clv = data.clv
    sections = [
        "<h2>Lifecycle funnel</h2>",
        funnel_chart(data.funnel),
        table(
            [
                "stage",
                "customers",
                "next",
                "advanced",
                "conversion (95% interval)",
                "median days",
                "mean days",
                "still in",
            ],
            funnel_rows,
        ),  # fmt: skip
        "<h3>Moves between stages</h3>",
        table(["from", "to", "moves", ""], moves),
        "<h2>Journeys</h2>",
        table(
            ["journey", "entries", "conversions", "rate", "95% interval"],
            [[c.key, *_journey_rate(c)] for c in data.journeys],
        ),  # fmt: skip
        f"<h2>Conversion over time (per {escape(data.period)} of entry)</h2>",
        line_chart("conversion", over_time, 0, 100, "%"),
        "<h2>Experiments</h2>",
        _experiments(data),
        f"<h2>NPS trend (per {escape(data.nps.period)})</h2>",
        line_chart("nps", trend, -100, 100, ""),
        table(["answers", "responses", "promoters", "passives", "detractors", "NPS"], nps_rows),
        "<h2>Historic customer value</h2>",
        table(
            ["customers with orders", "total", "mean", "median", "p90"],
            [
                [
                    clv.customers,
                    _num(clv.total, 2),
                    _num(clv.mean, 2),
                    _num(clv.median, 2),
                    _num(clv.p90, 2),
                ]
            ],
        ),  # fmt: skip
    ]
    body = f'<h1>Journeys report</h1><p class="filters note">{escape(data.filters)}</p>' + "".join(
        sections
    )
    return page("Journeys report", body)

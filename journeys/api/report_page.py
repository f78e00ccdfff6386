"""The report page (`GET /reports`): one self-contained HTML document with its charts drawn
as inline SVG on the server: no CDN, no network, no build step. The only scripts are the error
sink and the mark that rendering finished (journeys.charts), which the browser test reads."""

from dataclasses import dataclass
from datetime import date
from html import escape

from journeys.charts import COLOURS, ERROR_SINK, ready_mark, table
from journeys.kpis.reports import ClvSummary, Conversion, ExperimentResult, Funnel, NpsReport

WIDTH, HEIGHT, PAD = 720, 260, 48


@dataclass(frozen=True)
class PageData:
    journeys: list[Conversion]
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


def _empty(message: str) -> str:
    return (
        f'<svg class="chart empty" viewBox="0 0 {WIDTH} 60" role="img">'
        f'<text x="{WIDTH / 2}" y="35" text-anchor="middle">{escape(message)}</text></svg>'
    )


def line_chart(
    name: str, series: dict[str, list[tuple[str, float]]], low: float, high: float, unit: str
) -> str:
    """One line per series over shared categories (period starts), with a point per value."""
    keys = sorted({k for points in series.values() for k, _ in points})
    if not keys:
        return _empty("no data in this period")
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    # periods are placed by date, so a gap without data shows as a gap
    days = {key: date.fromisoformat(key).toordinal() for key in keys}
    first, span = days[keys[0]], days[keys[-1]] - days[keys[0]]
    short = len({key[:4] for key in keys}) == 1  # one year: label MM-DD

    def x(key: str) -> float:
        return PAD + (inner_w * (days[key] - first) / span if span else inner_w / 2)

    def y(value: float) -> float:
        return PAD + inner_h * (high - value) / (high - low)

    parts = [f'<svg class="chart" data-chart="{escape(name)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="{escape(name)}">']  # fmt: skip
    for i in range(5):  # grid and y labels
        value = low + (high - low) * i / 4
        at = y(value)
        parts.append(f'<line class="grid" x1="{PAD}" x2="{WIDTH - PAD}" y1="{at:.1f}" '
                     f'y2="{at:.1f}"/><text class="axis" x="{PAD - 6}" y="{at + 4:.1f}" '
                     f'text-anchor="end">{value:g}{unit}</text>')  # fmt: skip
    every = max(1, len(keys) // 8)
    for i, key in enumerate(keys):
        if i % every == 0:
            label = key[5:] if short else key
            parts.append(f'<text class="axis" x="{x(key):.1f}" y="{HEIGHT - PAD + 18}" '
                         f'text-anchor="middle">{escape(label)}</text>')  # fmt: skip
    for n, (label, points) in enumerate(sorted(series.items())):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{x(k):.1f},{y(v):.1f}" for k, v in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for key, value in points:
            parts.append(
                f'<circle class="point" data-series="{escape(label)}" data-x="{escape(key)}" '
                f'data-y="{value:.4g}" cx="{x(key):.1f}" cy="{y(value):.1f}" r="4" '
                f'fill="{colour}"><title>{escape(label)} {escape(key)}: {value:.1f}{unit}'
                "</title></circle>"
            )
        parts.append(f'<text class="legend" x="{PAD + 140 * n}" y="{PAD - 20}" fill="{colour}">'
                     f"■ {escape(label)}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def funnel_chart(funnel: Funnel) -> str:
    """A bar per stage, as wide as the customers who entered it, with the conversion to the
    next stage and the median time spent in it."""
    top = max((s.customers for s in funnel.stages), default=0)
    if not top:
        return _empty("no lifecycle stages recorded yet")
    row, label_w = 38, 130
    height = row * len(funnel.stages) + 10
    bar_w = WIDTH - label_w - 300
    parts = [f'<svg class="chart" data-chart="funnel" viewBox="0 0 {WIDTH} {height}" role="img" '
             'aria-label="lifecycle funnel">']  # fmt: skip
    for i, stage in enumerate(funnel.stages):
        y = 5 + i * row
        width = max(bar_w * stage.customers / top, 2)
        offset = label_w + (bar_w - width) / 2
        note = f"→ {_pct(stage.rate)} to {stage.next_stage}" if stage.next_stage else ""
        days = f", median {_num(stage.median_days)} d" if stage.median_days is not None else ""
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 22}" text-anchor="end">'
            f"{escape(stage.stage)}</text>"
            f'<rect class="point" data-stage="{escape(stage.stage)}" data-y="{stage.customers}" '
            f'x="{offset:.1f}" y="{y}" width="{width:.1f}" height="{row - 8}" rx="3" '
            f'fill="{COLOURS[i % len(COLOURS)]}"><title>{escape(stage.stage)}: '
            f"{stage.customers} customers</title></rect>"
            f'<text class="value" x="{label_w + bar_w + 10}" y="{y + 22}">{stage.customers} '
            f"{escape(note)}{escape(days)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(experiment: ExperimentResult) -> str:
    """Each variant's conversion rate (dot) and 95% interval (whisker) on a 0-100% axis."""
    row, label_w = 30, 90
    height = row * len(experiment.variants) + 30
    span = WIDTH - label_w - 40

    def x(rate: float) -> float:
        return label_w + span * rate

    parts = [f'<svg class="chart" data-chart="experiment-{escape(experiment.step)}" '
             f'viewBox="0 0 {WIDTH} {height}" role="img">']  # fmt: skip
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<line class="grid" x1="{x(tick)}" x2="{x(tick)}" y1="0" '
                     f'y2="{height - 20}"/><text class="axis" x="{x(tick)}" y="{height - 5}" '
                     f'text-anchor="middle">{tick * 100:g}%</text>')  # fmt: skip
    for i, v in enumerate(experiment.variants):
        y = 15 + i * row
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 4}" text-anchor="end">'
            f"{escape(v.name)}</text>"
            f'<line x1="{x(v.low):.1f}" x2="{x(v.high):.1f}" y1="{y}" y2="{y}" '
            f'stroke="{colour}" stroke-width="3"/>'
            f'<circle class="point" data-series="{escape(v.name)}" data-y="{v.rate:.4g}" '
            f'cx="{x(v.rate):.1f}" cy="{y}" r="5" fill="{colour}"><title>{escape(v.name)}: '
            f"{_pct(v.rate)} [{_pct(v.low)}, {_pct(v.high)}]</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _rate(c: Conversion) -> list[object]:
    return [c.entries, c.conversions, _pct(c.rate), f"{_pct(c.low)} – {_pct(c.high)}"]


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


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px;
       color: #111827; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #e5e7eb; }
h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; } thead { background: #f3f4f6; }
svg.chart { width: 100%; max-width: 720px; display: block; margin: 8px 0; }
.grid { stroke: #e5e7eb; } .axis, .legend, .label, .value { font-size: 12px; fill: #374151; }
.legend { font-weight: 600; } .warning { background: #fef3c7; border: 1px solid #d97706;
padding: 6px 10px; } .note, .none, .filters { color: #6b7280; }
"""


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
            _pct(s.rate),
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
                "conversion",
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
            [[c.key, *_rate(c)] for c in data.journeys],
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
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Journeys report</title><style>{STYLE}</style>{ERROR_SINK}</head><body>"
        f'<h1>Journeys report</h1><p class="filters">{escape(data.filters)} · '
        '<span id="rendered"></span></p>'
        + "".join(sections)
        + '<pre id="errors" hidden></pre>'
        + ready_mark("svg.chart")
        + "</body></html>"
    )

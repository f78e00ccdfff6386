"""The console's inflection points as a forest plot (`/console/inflections`): each touchpoint's
odds ratio for the goal with its 95% interval, on a log axis with the line of "no association"
at 1, so the strength and the uncertainty of each read at a glance."""

from journeys.charts import COLOURS, figure
from journeys.kpis.inflections import Inflection


def forest(found: list[Inflection]) -> str:
    import plotly.graph_objects as go

    if not found:
        return '<p class="none" data-empty="inflections">no touchpoint with enough customers</p>'
    shown = found[:30]  # the strongest first: the page's table has them all
    fig = go.Figure(go.Scatter(
        x=[f.odds_ratio for f in shown], y=[f.touchpoint for f in shown], mode="markers",
        marker={"size": 10, "color": [COLOURS[0] if f.low > 1 else COLOURS[3] if f.high < 1
                                      else "#9ca3af" for f in shown]},
        error_x={"type": "data", "symmetric": False,
                 "array": [f.high - f.odds_ratio for f in shown],
                 "arrayminus": [f.odds_ratio - f.low for f in shown]},
        customdata=[[f.low, f.high, f.exposed, 100 * f.rate_exposed, 100 * f.rate_unexposed]
                    for f in shown],
        hovertemplate="%{y}: odds ratio %{x:.2f} [%{customdata[0]:.2f} – %{customdata[1]:.2f}]"
        "<br>%{customdata[2]} customers; goal %{customdata[3]:.1f}% with, %{customdata[4]:.1f}%"
        " without<extra></extra>",
    ))  # fmt: skip
    fig.add_vline(x=1, line_dash="dot", line_color="#6b7280")
    fig.update_xaxes(type="log", title="odds ratio of reaching the goal (95% interval)")
    fig.update_yaxes(autorange="reversed")
    return figure(fig, "inflections", height=120 + 28 * len(shown))

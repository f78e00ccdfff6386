"""A backtest's report (the JSON `journeys backtest --json` prints) as labelled figures — the
terminal table — and as one self-contained page (`--html`, `GET /v1/backtests/{id}/page`): the
figures table, and charts of how runs ended, entries, goals and sends week by week, sends per
step and sends held back per reason; two versions side by side in each."""

from html import escape
from pathlib import PurePath
from typing import Any

from journeys.charts import COLOURS, figure, page, table
from journeys.kpis.experiments import wilson
from journeys.kpis.reports import RateDifference, rate_difference

GOAL_INTERVAL = "goal rate, 95% interval"  # a row of the table; for two, b − a's interval too
OUTCOMES = ("reached goal", "completed", "still open")
WEEKLY = (("entered", "entered"), ("reached_goal", "reached goal"), ("sent", "messages sent"))


def render(reports: list[dict[str, Any]]) -> str:
    """One report, or two (a and b) compared."""
    import plotly.graph_objects as go  # a second's import, for --html only

    labels = report_labels(reports)
    title = "Backtest: " + " vs ".join(
        f"{label} {r['window']['from'][:10]} to {r['window']['to'][:10]}"
        for label, r in zip(labels, reports, strict=True)
    )
    body = [f"<h1>{escape(title)}</h1>"]
    if not all(r["complete"] for r in reports):
        body.append('<p class="warning">Stopped early: the figures cover what was fed.</p>')
    body += ["<h2>Figures</h2>", _table(reports, labels)]

    outcomes = go.Figure()
    reasons = sorted({reason for r in reports for reason in r["exits"]})
    for name in [OUTCOMES[0], *[f"exited: {x}" for x in reasons], *OUTCOMES[1:]]:
        outcomes.add_bar(name=name, y=labels, x=[_outcome(r, name) for r in reports],
                         orientation="h")  # fmt: skip
    outcomes.update_layout(barmode="stack", title="How the runs entered ended",
                           xaxis_title="runs")  # fmt: skip
    body += ["<h2>Runs</h2>", figure(outcomes, "outcomes", height=160 + 60 * len(reports))]

    weekly = go.Figure()
    for label, report, dash in zip(labels, reports, ("solid", "dash"), strict=False):
        weeks = [w["week"] for w in report["weekly"]]
        for (key, name), colour in zip(WEEKLY, COLOURS, strict=False):
            weekly.add_scatter(
                x=weeks, y=[w[key] for w in report["weekly"]], mode="lines+markers",
                name=f"{label}: {name}" if len(reports) > 1 else name,
                line={"dash": dash, "color": colour},
            )  # fmt: skip
    weekly.update_layout(title="Week by week (weeks start on Monday)", yaxis_title="count")
    body += ["<h2>Over time</h2>", figure(weekly, "weekly")]

    sends = go.Figure()
    steps = list(dict.fromkeys(step for r in reports for step in by_step(r)))
    channels = sorted({ch for r in reports for s in r["messages"]["by_step"].values() for ch in s})
    for label, report in zip(labels, reports, strict=True):
        for channel in channels:
            sends.add_bar(
                name=f"{label}: {channel}" if len(reports) > 1 else channel, x=steps,
                y=[report["messages"]["by_step"].get(s, {}).get(channel, 0) for s in steps],
                offsetgroup=label,
            )  # fmt: skip
    sends.update_layout(barmode="relative" if len(reports) == 1 else "group",
                        title="Messages sent per step", yaxis_title="messages")  # fmt: skip
    body += ["<h2>Messages</h2>", figure(sends, "messages")]

    held = sorted({reason for r in reports for reason in r["skipped"]})
    if held:
        skipped = go.Figure()
        for label, report in zip(labels, reports, strict=True):
            skipped.add_bar(name=label, y=held, x=[report["skipped"].get(x, 0) for x in held],
                            orientation="h")  # fmt: skip
        skipped.update_layout(barmode="group", title="Sends held back, per reason",
                              xaxis_title="sends")  # fmt: skip
        body.append(figure(skipped, "skipped", height=140 + 40 * len(held) * len(reports)))
    else:
        body.append('<p class="none">No send was held back.</p>')
    return page(title, "".join(body))


def report_labels(reports: list[dict[str, Any]]) -> list[str]:
    """What names each report: its journey, and the spec file it came from when the command
    line gave one (two versions of one journey share its name); `a:` and `b:` for two."""
    named = [
        f"{r['journey']} ({PurePath(r['spec']).name})" if r.get("spec") else r["journey"]
        for r in reports
    ]
    if len(reports) == 1:
        return named
    return [f"{side}: {name}" for side, name in zip("ab", named, strict=True)]


def _outcome(report: dict[str, Any], name: str) -> int:
    if name == "reached goal":
        return int(report["goals"]["reached"] or 0)  # none without a goal
    if name == "completed":
        return int(report["completed"])
    if name == "still open":
        return int(report["open"]["runs"])
    return int(report["exits"].get(name.removeprefix("exited: "), 0))


def _table(reports: list[dict[str, Any]], labels: list[str]) -> str:
    columns = [*labels, "b − a"] if len(reports) == 2 else labels
    body = [[key, *(_cell(v) for v in cells)] for key, *cells in figure_rows(reports)]
    return table(["", *columns], body)


def figure_rows(reports: list[dict[str, Any]]) -> list[list[Any]]:
    """Each figure of one report, or of two side by side with b − a (the terminal's table and
    the page's). For two, the goal rate's difference gets its 95% interval and p-value: a
    gap chance explains reads as one."""
    figures = [dict(rows(r)) for r in reports]
    keys = list(dict.fromkeys(k for f in figures for k in f))
    body = []
    for key in keys:
        cells = [f.get(key) for f in figures]
        if len(figures) == 2:
            cells.append(change(*cells))
        body.append([key, *cells])
    gap = goal_rate_gap(*reports) if len(reports) == 2 else None
    if gap is not None:
        interval = next(row for row in body if row[0] == GOAL_INTERVAL)
        interval[3] = f"{gap.low:+.4f} – {gap.high:+.4f}"
        p_value = "–" if gap.p_value is None else f"{gap.p_value:.2g}"
        body.insert(body.index(interval) + 1, ["goal rate, p (no difference)", None, None, p_value])
    return body


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def goal_rate_gap(a: dict[str, Any], b: dict[str, Any]) -> RateDifference | None:
    """b's goal rate minus a's, with its interval; None unless both have a goal and runs."""
    if a["goals"]["reached"] is None or b["goals"]["reached"] is None:
        return None
    return rate_difference(
        (b["entries"]["runs"], b["goals"]["reached"]), (a["entries"]["runs"], a["goals"]["reached"])
    )


def change(a: Any, b: Any) -> str | None:
    """b − a of one figure of the table, signed; None when it is not a number."""
    if isinstance(a, int | float) or isinstance(b, int | float):
        difference = (b or 0) - (a or 0)
        return f"{difference:+.4g}" if difference else "0"
    return None


def by_step(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Messages sent per step in the journey's order (the JSON sorts its keys), not A to Z."""
    sent = report["messages"]["by_step"]
    order = {step: at for at, step in enumerate(report.get("steps", []))}
    return {step: sent[step] for step in sorted(sent, key=lambda s: (order.get(s, len(order)), s))}


def rows(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report as labelled figures, in reading order (the terminal table)."""
    found: list[tuple[str, Any]] = [
        ("calls in the log", report["log"]["calls"]),
        ("customers in the log", report["log"]["customers"]),
        ("runs entered", report["entries"]["runs"]),
        ("customers entered", report["entries"]["customers"]),
    ]
    found += [(f"entry refused: {kind}", n) for kind, n in report["entries"]["refused"].items()]
    found += [(f"sent: {ch}", n) for ch, n in report["messages"]["by_channel"].items()]
    for step, channels in by_step(report).items():
        found += [(f"sent at {step} ({ch})", n) for ch, n in channels.items()]
    found += [(f"skipped: {reason}", n) for reason, n in report["skipped"].items()]
    found += [(f"failed: {reason}", n) for reason, n in report["failed"].items()]
    found += [(f"waiting: {reason}", n) for reason, n in report["waiting"].items()]
    goals = report["goals"]
    if goals["reached"] is None:
        found += [("goal", "none: the journey has no goal")]
    else:
        low, high = wilson(goals["reached"], report["entries"]["runs"])
        found += [
            ("goals reached", goals["reached"]),
            ("goal rate", goals["rate"]),
            (GOAL_INTERVAL, f"{low:.4g} – {high:.4g}"),
            ("median hours to goal", goals["hours_to_goal"]["median"]),
            ("p90 hours to goal", goals["hours_to_goal"]["p90"]),
        ]
    found += [(f"exited: {reason}", n) for reason, n in report["exits"].items()]
    found += [("completed", report["completed"]), ("still open", report["open"]["runs"])]
    found += [(f"open after {step}", n) for step, n in report["open"]["after_step"].items()]
    return found

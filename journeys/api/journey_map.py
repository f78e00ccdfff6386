"""The console's journey map (`/console/journeys/{name}`): the spec's steps as a layered graph,
laid out by grandalf's Sugiyama layout (the method of Graphviz's `dot`, in pure Python: no
system package) and drawn with Plotly — each step with the runs there now, the runs that did
it, how runs ended after it and its messages; each edge with the runs that went along it."""

from collections import Counter
from typing import Any

from journeys.charts import COLOURS, figure
from journeys.kpis.reports import rate_text
from journeys.store.journey_map import ENTRY, MapCounts
from journeys.vocabulary.journey_spec import JourneySpec

NODE_W, NODE_H = 170.0, 70.0  # layout units; the figure scales them
GAP = 16.0  # between an arrow's ends and the boxes it joins


def layout(spec: JourneySpec) -> dict[str, tuple[float, float]]:
    """(x, y) of the entry and every step, the entry on top and each step below the steps that
    lead to it (loops drawn back upwards)."""
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    class View:
        w, h = NODE_W, NODE_H

    vertices = {name: Vertex(name) for name in [ENTRY, *(s.id for s in spec.steps)]}
    for vertex in vertices.values():
        vertex.view = View()
    edges = [Edge(vertices[a], vertices[b]) for a, b in _edges(spec)]
    graph = Graph(list(vertices.values()), edges)
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        roots = [v for v in component.sV if v.data == ENTRY]
        sugiyama.init_all(roots=roots or None)
        sugiyama.draw()
    return {name: (float(v.view.xy[0]), -float(v.view.xy[1])) for name, v in vertices.items()}


def _edges(spec: JourneySpec) -> list[tuple[str, str]]:
    found = [(ENTRY, spec.steps[0].id)]
    for step in spec.steps:
        found += [(step.id, target) for target in spec.successors(step)]
    return list(dict.fromkeys(found))


def journey_map(spec: JourneySpec, counts: MapCounts, now: dict[str, int] | None) -> str:
    """The map as a chart fragment; `now` (runs at each step, from visibility) may be None when
    Temporal could not be asked."""
    import plotly.graph_objects as go

    where = layout(spec)
    fig = go.Figure()
    for a, b in _edges(spec):
        (x0, y0), (x1, y1) = where[a], where[b]
        taken = counts.edges.get((a, b), 0)
        fig.add_annotation(
            x=x1, y=y1 + GAP, ax=x0, ay=y0 - GAP, xref="x", yref="y", axref="x",
            ayref="y", showarrow=True, arrowhead=2, arrowwidth=1 + min(taken, 1000) ** 0.3,
            arrowcolor="#9ca3af", text="",
        )  # fmt: skip
        fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=f"{taken:,}", showarrow=False,
                           font={"size": 11, "color": "#374151"}, bgcolor="white")  # fmt: skip
    names = [ENTRY, *(s.id for s in spec.steps)]
    kinds = {s.id: s.kind for s in spec.steps}
    fig.add_scatter(
        x=[where[n][0] for n in names], y=[where[n][1] for n in names], mode="markers+text",
        marker={"symbol": "square", "size": 46, "color": [_colour(kinds.get(n)) for n in names],
                "opacity": 0.9},
        text=[_label(n, kinds.get(n), counts, now) for n in names], textposition="middle right",
        hovertext=[_details(n, counts) for n in names], hoverinfo="text",
        customdata=names, name="steps",
    )  # fmt: skip
    fig.update_layout(
        showlegend=False, title=f"{spec.name}: runs by step",
        xaxis={"visible": False, "range": _span([x for x, _ in where.values()], 260)},
        yaxis={"visible": False, "range": _span([y for _, y in where.values()], 60)},
    )  # fmt: skip
    return figure(fig, "journey-map", height=int(140 + 110 * len({y for _, y in where.values()})))


def _span(values: list[float], pad: float) -> list[float]:
    return [min(values) - pad, max(values) + pad * 1.6]


def _colour(kind: str | None) -> str:
    groups = {None: 4, "send": 0, "wait": 1, "wait_until": 1, "wait_for_event": 1, "exit": 3}
    return COLOURS[groups.get(kind, 2)]


def _label(name: str, kind: str | None, counts: MapCounts, now: dict[str, int] | None) -> str:
    if name == ENTRY:
        return f"<b>entry</b><br>{counts.entered:,} entered"
    here = "–" if now is None else f"{now.get(name, 0):,}"
    ended = counts.ended.get(name, Counter())
    outcome = ", ".join(f"{n:,} {k}" for k, n in sorted(ended.items()))
    sent = counts.messages.get(name, Counter()).get("sent")
    parts = [f"<b>{name}</b> ({kind})", f"{here} here now · {counts.reached.get(name, 0):,} did it"]
    if sent:
        parts.append(f"{sent:,} sent")
    if outcome:
        parts.append(outcome)
    return "<br>".join(parts)


def engagement(name: str, counts: MapCounts) -> str:
    """Opens and clicks of the step's sent messages, the person's with their rate, a
    machine's (privacy proxy, link scanner) apart and not in the rate."""
    found = counts.engagement.get(name, Counter())
    sent = found["sent"]
    if not sent:
        return ""
    people = ", ".join(f"{kind} {found[kind]:,} ({rate_text(found[kind], sent)})"
                       for kind in ("opened", "clicked"))  # fmt: skip
    machines = found["machine opened"] + found["machine clicked"]
    if not machines:
        return people
    return (f"{people}; by a machine: opened {found['machine opened']:,},"
            f" clicked {found['machine clicked']:,}")  # fmt: skip


def _details(name: str, counts: MapCounts) -> str:
    lines = [f"{name}"]
    lines += [f"{what}: {n:,}" for what, n in sorted(counts.messages.get(name, {}).items())]
    if engaged := engagement(name, counts):
        lines.append(engaged)
    lines += [f"ended {kind}: {n:,}" for kind, n in sorted(counts.ended.get(name, {}).items())]
    if counts.open_after.get(name):
        lines.append(f"open runs whose last step done is this: {counts.open_after[name]:,}")
    return "<br>".join(lines)


def step_rows(spec: JourneySpec, counts: MapCounts, now: dict[str, int] | None) -> list[Any]:
    """The map's figures as table rows: step, kind, here now, did it, ended after it, the share
    of runs that did it and reached the goal later, messages, opens and clicks."""
    rows = []
    for step in spec.steps:
        ended = counts.ended.get(step.id, Counter())
        runs = counts.reached.get(step.id, 0)
        # a spec without a goal: its runs cannot reach one (not "0.0%")
        conversion = rate_text(counts.converted_after[step.id], runs) if spec.goal else "no goal"
        rows.append([
            step.id, step.kind, "–" if now is None else now.get(step.id, 0),
            counts.reached.get(step.id, 0),
            ", ".join(f"{k} {n}" for k, n in sorted(ended.items())) or "",
            conversion,
            ", ".join(f"{k} {n}" for k, n in sorted(counts.messages.get(step.id, {}).items())),
            engagement(step.id, counts),
        ])  # fmt: skip
    return rows

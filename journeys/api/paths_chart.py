"""The console's flow of lifecycle stages (`/console/paths`): a Sankey diagram from the stage a
customer left (left column) to the one it entered (right column), so backward moves and repeats
show as plainly as forward ones, coloured by direction."""

from collections import Counter

from journeys.charts import COLOURS, figure
from journeys.store.paths import FIRST_SEEN
from journeys.vocabulary.events import Stage

ORDER = [FIRST_SEEN, *(s.value for s in Stage)]
FORWARD, BACKWARD, SAME = "rgba(37,99,235,0.45)", "rgba(220,38,38,0.45)", "rgba(107,114,128,0.4)"


def stage_flow(moves: Counter[tuple[str, str]]) -> str:
    import plotly.graph_objects as go

    left = [s for s in ORDER if any(a == s for a, _ in moves)]
    right = [s for s in ORDER if any(b == s for _, b in moves)]
    labels = [f"from {s}" for s in left] + [f"to {s}" for s in right]
    pairs = sorted(
        moves.items(), key=lambda item: (ORDER.index(item[0][0]), ORDER.index(item[0][1]))
    )
    fig = go.Figure(go.Sankey(
        arrangement="fixed",
        node={"label": labels, "pad": 18, "thickness": 16,
              "color": [COLOURS[ORDER.index(s) % len(COLOURS)] for s in left + right]},
        link={
            "source": [left.index(a) for (a, _), _ in pairs],
            "target": [len(left) + right.index(b) for (_, b), _ in pairs],
            "value": [n for _, n in pairs],
            "color": [_direction(a, b) for (a, b), _ in pairs],
        },
    ))  # fmt: skip
    fig.update_layout(title="Stage moves: blue forward, red backward, grey the same stage again")
    return figure(fig, "stage-flow", height=460)


def _direction(a: str, b: str) -> str:
    step = ORDER.index(b) - ORDER.index(a)
    return FORWARD if step > 0 else BACKWARD if step < 0 else SAME

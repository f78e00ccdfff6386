"""Charts for the pages we write and serve: Plotly figures as HTML fragments, and the page around
them — Plotly's script inlined once, so a page opens with no network and no build step; an error
sink (`window.onerror` and `console.error` write into `<pre id="errors">`), a mark that
rendering finished (`body[data-ready]`) and what each chart drew (`<pre id="drawn">`, JSON),
which the browser tests read and compare with the store's figures."""

from collections.abc import Sequence
from functools import cache
from html import escape
from typing import Any

COLOURS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d"]

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px 24px;
       color: #111827; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; } thead { background: #f3f4f6; }
.chart { max-width: 960px; } .note, .none { color: #6b7280; }
.warning { background: #fef3c7; border: 1px solid #d97706; padding: 6px 10px; }
h3 { font-size: 15px; }
"""

ERROR_SINK = """<script>
(function () {
  function sink(text) {
    var out = document.getElementById("errors");
    if (out) { out.textContent += text + "\\n"; out.hidden = false; }
    else { (window.__early = window.__early || []).push(text); }
  }
  window.onerror = function (message, source, line) {
    sink("error: " + message + " (" + source + ":" + line + ")");
  };
  var original = console.error;
  console.error = function () {
    sink("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
</script>"""


def ready_mark(selector: str) -> str:
    """Runs once the page has loaded: early errors into #errors, the count of drawn charts
    (`selector`) into #rendered, each chart's traces as drawn (name, type and the x, y,
    labels, values, node and link arrays the browser holds) into #drawn, then
    `body[data-ready="yes"]`."""
    return f"""<script>
window.addEventListener("load", function () {{
  var out = document.getElementById("errors");
  (window.__early || []).forEach(function (t) {{
    out.textContent += t + "\\n";
    out.hidden = false;
  }});
  var charts = document.querySelectorAll({selector!r});
  document.getElementById("rendered").textContent = charts.length + " charts";
  function plain(value) {{
    if (value && typeof value === "object" && value.length !== undefined) {{
      return Array.prototype.map.call(value, plain);
    }}
    if (value && typeof value === "object") {{
      var copy = {{}};
      Object.keys(value).forEach(function (k) {{ copy[k] = plain(value[k]); }});
      return copy;
    }}
    return value;
  }}
  var drawn = {{}};
  charts.forEach(function (chart) {{
    drawn[chart.id] = (chart._fullData || []).map(function (trace) {{
      var kept = {{name: trace.name, type: trace.type}};
      ["x", "y", "text", "labels", "values"].forEach(function (k) {{
        if (trace[k] !== undefined) {{ kept[k] = plain(trace[k]); }}
      }});
      if (trace.node) {{ kept.node = {{label: plain(trace.node.label)}}; }}
      if (trace.link) {{
        kept.link = {{source: plain(trace.link.source), target: plain(trace.link.target),
                     value: plain(trace.link.value)}};
      }}
      return kept;
    }});
  }});
  var sink = document.getElementById("drawn");
  if (sink) {{ sink.textContent = JSON.stringify(drawn); }}
  document.body.dataset.ready = "yes";
}});
</script>"""


@cache
def plotly_script() -> str:
    """plotly.js from the installed package, inlined (about 4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return f"<script>{get_plotlyjs()}</script>"


def figure(fig: Any, name: str, *, height: int = 360) -> str:
    """One figure as a `<div class="chart" data-chart=name>`; the id is the name, so the same
    figure gives the same bytes."""
    fig.update_layout(
        template="plotly_white", height=height, colorway=COLOURS,
        margin={"l": 60, "r": 20, "t": 40, "b": 50}, font={"family": "system-ui, sans-serif"},
    )  # fmt: skip
    inner = fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
        config={"displaylogo": False, "responsive": True},
    )  # fmt: skip
    return f'<div class="chart" data-chart="{escape(name)}">{inner}</div>'


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table, every cell escaped."""
    if not rows:
        return '<p class="none">none</p>'
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, *, refresh: int | None = None) -> str:
    """A self-contained page around chart fragments; `refresh`: reload every so many seconds."""
    again = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{again}'
        f"<title>{escape(title)}</title><style>{STYLE}</style>{ERROR_SINK}{plotly_script()}"
        f"</head><body>{body}"
        '<p class="note" id="rendered"></p><pre id="errors" hidden></pre>'
        '<pre id="drawn" hidden></pre>'
        f"{ready_mark('.chart .js-plotly-plot')}</body></html>"
    )

"""`journeys report`: the report page's figures as aligned tables (or `--json`), read from the
store (JOURNEYS_DATABASE_URL).

    journeys report journeys [--from DATE] [--to DATE] [--version N]
    journeys report journey NAME [--from] [--to] [--version N] [--period day|week|month]
    journeys report funnel [--from] [--to]
    journeys report nps [--period day|week|month] [--journey NAME] [--from] [--to]
    journeys report clv [--customer ID]

Dates are UTC (YYYY-MM-DD or an ISO 8601 instant); `--to` is exclusive.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from journeys.cli.text import instant, table
from journeys.config.settings import Settings
from journeys.kpis.reports import as_json, lift_text
from journeys.store.db import session_scope
from journeys.store.kpis import RunFilter, customer_value
from journeys.store.reports import (
    UnknownJourney,
    UnknownVersion,
    clv_report,
    funnel_report,
    journey_report,
    journeys_report,
    nps_report,
)

COMMAND = "report"
PERIODS = ("day", "week", "month")


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    report = sub.add_parser(COMMAND, help="conversions, funnel, NPS and CLV as tables")
    actions = report.add_subparsers(dest="action", required=True)

    def action(name: str, text: str, period: bool = False) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=text)
        parser.add_argument("--from", dest="start", type=instant, help="UTC, inclusive")
        parser.add_argument("--to", dest="end", type=instant, help="UTC, exclusive")
        if period:
            parser.add_argument("--period", choices=PERIODS, default="week")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        return parser

    action("journeys", "conversion per journey").add_argument("--version", type=_positive)
    journey = action("journey", "one journey: steps, experiments, segments, over time", True)
    journey.add_argument("name")
    journey.add_argument("--version", type=_positive)
    action("funnel", "the lifecycle funnel: stage conversion, time in stage, moves")
    action("nps", "Net Promoter Score per period and journey", True).add_argument("--journey")
    clv = actions.add_parser("clv", help="historic customer value: distribution or one customer")
    clv.add_argument("--customer", help="one customer's value")
    clv.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start and end and end <= start:
        return _fail(args.action, "--to must be after --from")
    runs = RunFilter(version=getattr(args, "version", None), start=start, end=end)
    with session_scope(settings.database_url) as session:
        if args.action == "journeys":
            document: Any = journeys_report(session, runs=runs)
        elif args.action == "journey":
            try:
                document = journey_report(session, name=args.name, runs=runs,
                                          period=args.period,
                                          global_control=settings.global_control)  # fmt: skip
            except UnknownVersion as err:
                return _fail("journey", str(err))
            if document is None:
                return _fail("journey", f"no journey {args.name!r}")
        elif args.action == "funnel":
            document = funnel_report(session, start=start, end=end)
        elif args.action == "nps":
            try:
                document = nps_report(
                    session, period=args.period, journey=args.journey, start=start, end=end
                )
            except UnknownJourney as err:
                return _fail("nps", str(err))
        elif args.customer:
            document = customer_value(session, customer_id=args.customer)
            if document is None:
                return _fail("clv", f"no customer {args.customer!r}")
        else:
            document = clv_report(session)
    if args.json:
        print(json.dumps(as_json(document), indent=2))
        return 0
    print(_text(args.action, as_json(document), bool(getattr(args, "customer", None))))
    return 0


def _text(action: str, doc: Any, one_customer: bool) -> str:
    if action == "journeys":
        return _conversions("journey", doc)
    if action == "journey":
        return _journey(doc)
    if action == "funnel":
        stages = [[s["stage"], s["customers"], s["next_stage"] or "-",
                   s["advanced"] if s["next_stage"] else "-", _pct(s["rate"]),
                   _num(s["median_days"]), _num(s["mean_days"]), s["still_in"]]
                  for s in doc["stages"]]  # fmt: skip
        moves = [[m["source"], m["target"], m["count"], "back" if m["backward"] else ""]
                 for m in doc["moves"]]  # fmt: skip
        return "\n\n".join([
            table(["stage", "customers", "next", "advanced", "conversion", "median days",
                   "mean days", "still in"], stages),
            "Moves between stages\n" + table(["from", "to", "moves", ""], moves),
        ])  # fmt: skip
    if action == "nps":
        head = ["", "responses", "promoters", "passives", "detractors", "NPS"]

        def rows(figures: list[dict[str, Any]]) -> list[list[Any]]:
            return [[f["key"], f["responses"], f["promoters"], f["passives"], f["detractors"],
                     _num(f["score"])] for f in figures]  # fmt: skip

        title = f"NPS per {doc['period']}" + (
            f", journey {doc['journey']}" if doc["journey"] else ""
        )
        parts = [title, table(head, rows([doc["overall"], *doc["trend"]]))]
        parts += ["\nPer journey (entered within 30 days before the answer)",
                  table(head, rows(doc["journeys"]))]  # fmt: skip
        if doc["ignored"]:
            parts.append(f"{doc['ignored']} answer(s) without a 0-10 score left out")
        return "\n".join(parts)
    if one_customer:
        return table(["customer", "total", "orders", "first order", "last order"],
                     [[doc["customer_id"], _num(doc["total"], 2), doc["orders"],
                       doc["first_order"] or "-", doc["last_order"] or "-"]])  # fmt: skip
    summary = table(["customers with orders", "total", "mean", "median", "p90"],
                    [[doc["customers"], _num(doc["total"], 2), _num(doc["mean"], 2),
                      _num(doc["median"], 2), _num(doc["p90"], 2)]])  # fmt: skip
    top = table(["customer", "total", "orders", "first order", "last order"],
                [[v["customer_id"], _num(v["total"], 2), v["orders"], v["first_order"],
                  v["last_order"]] for v in doc["top"]])  # fmt: skip
    return f"{summary}\n\nMost valuable\n{top}"


def _journey(doc: dict[str, Any]) -> str:
    c = doc["conversion"]
    name = f"{doc['journey']}" + (f" v{doc['version']}" if doc["version"] else "")
    # a journey without a goal: its runs cannot convert, so no "0 converted, 0.0%"
    counted = _entries if doc["no_goal"] else _conversions
    head = f"{name}: {c['entries']} entries, " + (
        "no goal" if doc["no_goal"] else f"{c['conversions']} converted,"
        f" {_pct(c['rate'])} [{_pct(c['low'])} - {_pct(c['high'])}]")  # fmt: skip
    parts = [head, "Steps (runs that reached the step)\n" + counted("step", doc["steps"])]
    for experiment in doc["experiments"]:
        rows = [[v["name"], f"{v['weight']:g}", v["exposures"], v["conversions"], _pct(v["rate"]),
                 f"{_pct(v['low'])} - {_pct(v['high'])}", _pct(v["probability_best"])]
                for v in experiment["variants"]]  # fmt: skip
        p_value = experiment["p_value"]
        lines = [f"Experiment {experiment['step']}" + (
            f" (chi-square p = {p_value:.3g})" if p_value is not None else ""),
            table(["variant", "weight", "exposures", "conversions", "rate", "95% interval",
                   "P(best)"], rows)]  # fmt: skip
        if experiment["sample_ratio_mismatch"]:
            lines.append(f"WARNING: sample ratio mismatch (p = {experiment['srm_p_value']:.2g})")
        parts.append("\n".join(lines))
    if doc["engagement"]:
        parts.append("Messages sent per step: opened and clicked by the person; a machine's apart\n"
                     + table(["step", "sent", "bounced", "opened", "95% interval", "clicked",
                              "95% interval", "machine opened", "machine clicked"],
                             [[e["step"], e["sent"], e["bounced"], _pct(e["opened"]["rate"]),
                               f"{_pct(e['opened']['low'])} - {_pct(e['opened']['high'])}",
                               _pct(e["clicked"]["rate"]),
                               f"{_pct(e['clicked']['low'])} - {_pct(e['clicked']['high'])}",
                               e["machine_opened"], e["machine_clicked"]]
                              for e in doc["engagement"]]))  # fmt: skip
    parts += [lift_text(doc[g]) for g in ("holdout", "global_control") if doc.get(g)]
    parts.append("Segments (when the run entered)\n" + counted("segment", doc["segments"]))
    parts.append(f"Per {doc['period']} of entry\n" + counted(doc["period"], doc["over_time"]))
    return "\n\n".join(parts)


def _conversions(name: str, rows: Sequence[dict[str, Any]]) -> str:
    return table(
        [name, "entries", "conversions", "rate", "95% interval"],
        [[r["key"], r["entries"], "-" if r.get("no_goal") else r["conversions"], *_rate(r)]
         for r in rows],
    )  # fmt: skip


def _entries(name: str, rows: Sequence[dict[str, Any]]) -> str:
    return table([name, "entries"], [[r["key"], r["entries"]] for r in rows])


def _rate(row: dict[str, Any]) -> list[str]:
    """Rate and interval; none of nothing (a step no run reached), nor of a journey without a
    goal."""
    if row.get("no_goal"):
        return ["no goal", "-"]
    if not row["entries"]:
        return ["-", "-"]
    return [_pct(row["rate"]), f"{_pct(row['low'])} - {_pct(row['high'])}"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _fail(action: str, message: str) -> int:
    print(f"journeys report {action}: {message}", file=sys.stderr)
    return 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version (1, 2, ...)")
    return int(text)

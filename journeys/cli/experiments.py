"""`journeys experiments`: a journey's experiment results and promotions (`show`), a manual
promotion or the revert of the latest one (each a new journey version), the evaluation that
auto-promotes winners (`evaluate`, store only: what the schedule runs), and its schedule
(`schedule`: needs Temporal).

    journeys experiments show checkout_test [--version 3] [--json]
    journeys experiments promote checkout_test split b
    journeys experiments revert checkout_test split

Each returns the process exit code; problems go to stderr.
"""

import argparse
import asyncio
import json
import sys
from typing import Any

from journeys.config.settings import ConfigError, Settings
from journeys.store.db import session_scope

COMMAND = "experiments"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    experiments = sub.add_parser(
        COMMAND, help="A/B tests: results, promotions, promote, revert, evaluate, schedule"
    )
    actions = experiments.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a journey's experiment results and promotions")
    show.add_argument("name")
    show.add_argument("--version", type=int, help="only the runs of this version")
    show.add_argument("--json", action="store_true", help="print JSON (as the API answers)")
    promote = actions.add_parser("promote", help="give a variant all the traffic (new version)")
    promote.add_argument("name")
    promote.add_argument("step")
    promote.add_argument("variant")
    revert = actions.add_parser("revert", help="undo the latest promotion of a step")
    revert.add_argument("name")
    revert.add_argument("step")
    evaluate = actions.add_parser(
        "evaluate", help="promote every winner that reached its step's `promote` threshold now"
    )
    evaluate.add_argument("--journey", help="only this journey")
    schedule = actions.add_parser(
        "schedule",
        help="create or update the Temporal Schedule `experiment-evaluation` (every "
        "JOURNEYS_EXPERIMENT_EVALUATION_INTERVAL)",
    )
    schedule.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.database_url
    if args.action == "show":
        return _show(args.name, args.version, args.json, url)
    if args.action == "promote":
        return _change("promote", url, args.name, args.step, args.variant)
    if args.action == "revert":
        return _change("revert", url, args.name, args.step)
    if args.action == "evaluate":
        return _evaluate(args.journey, url)
    return _schedule(args.address, settings)


def _fail(action: str, message: str) -> int:
    print(f"journeys experiments {action}: {message}", file=sys.stderr)
    return 1


def _show(name: str, version: int | None, as_json: bool, url: str) -> int:
    from journeys.activities.experiments import journey_experiment_results
    from journeys.store.experiments import promotions
    from journeys.store.models import Journey

    with session_scope(url) as session:
        if session.get(Journey, name) is None:
            return _fail("show", f"no journey {name!r}")
        results = [r.as_dict() for r in journey_experiment_results(session, journey=name,
                                                                   version=version)]  # fmt: skip
        made = [p.model_dump(mode="json") for p in promotions(session, journey=name)]
    if as_json:
        document = {"journey": name, "version": version, "experiments": results,
                    "promotions": made}  # fmt: skip
        print(json.dumps(document, indent=2))
        return 0
    print(render(name, results, made))
    return 0


def render(name: str, results: list[dict[str, Any]], made: list[dict[str, Any]]) -> str:
    """Results and promotions as plain-text tables."""
    if not results:
        return f"{name}: no experiment steps"
    lines: list[str] = []
    for result in results:
        versions = ", ".join(f"v{v}" for v in result["versions"])
        lines.append(f"{name}.{result['step']} ({versions})")
        rows = [("VARIANT", "WEIGHT", "EXPOSED", "CONVERTED", "RATE", "95% CI", "P(BEST)")]
        for v in result["variants"]:
            interval = f"{v['low']:.1%}–{v['high']:.1%}"
            rows.append((v["name"], f"{v['weight']:g}", str(v["exposures"]), str(v["conversions"]),
                         f"{v['rate']:.1%}", interval, f"{v['probability_best']:.3f}"))  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows]  # fmt: skip
        p = result["p_value"]
        srm = result["srm_p_value"]
        verdict = "SAMPLE RATIO MISMATCH" if result["sample_ratio_mismatch"] else "split as planned"
        lines.append(
            f"  best: {result['best'] or '-'}; chi-square p = {_p(p)}; always-valid p ="
            f" {_p(result['always_valid_p_value'])}; {verdict} (p = {_p(srm)})"
        )
        lines.append("")
    if made:
        lines.append("promotions:")
        for m in made:
            how = "manual" if m["manual"] else f"P(best) {m['probability_best']:.3f}"
            reverted = f", reverted in v{m['reverted_version']}" if m["reverted_at"] else ""
            lines.append(f"  {m['at'][:16]}  {m['step']}: {m['winner']} (v{m['from_version']} → "
                         f"v{m['to_version']}, {how}){reverted}")  # fmt: skip
    return "\n".join(lines).rstrip()


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _change(action: str, url: str, name: str, step: str, variant: str | None = None) -> int:
    from journeys.activities.experiments import journey_experiment_results
    from journeys.store.experiments import ExperimentError, promote_variant, revert_promotion
    from journeys.store.journeys import CatalogError

    try:
        with session_scope(url) as session:
            if variant is None:
                row = revert_promotion(session, journey=name, step=step)
                message = f"{name}.{step}: weights restored in v{row.reverted_version}"
            else:
                results = journey_experiment_results(session, journey=name)
                result = next((r for r in results if r.step == step), None)
                arms = {a.name: a for a in result.analysis.arms} if result else {}
                row = promote_variant(
                    session,
                    journey=name,
                    step=step,
                    winner=variant,
                    probability_best=arms[variant].probability_best if variant in arms else None,
                    exposures={n: a.exposures for n, a in arms.items()},
                    manual=True,
                )
                message = f"{name}.{step}: {variant} gets all the traffic in v{row.to_version}"
    except (ExperimentError, CatalogError) as err:
        return _fail(action, str(err))
    print(message)
    return 0


def _evaluate(journey: str | None, url: str) -> int:
    from journeys.activities.experiments import evaluate

    with session_scope(url) as session:
        outcome = evaluate(session, journey=journey)
    for p in outcome.promotions:
        print(f"{p.journey}.{p.step}: promoted {p.winner} (P(best) {p.probability_best:.3f}), "
              f"v{p.from_version} → v{p.to_version}")  # fmt: skip
    print(f"{outcome.evaluated} experiment(s) with a promote block evaluated, "
          f"{len(outcome.promotions)} promoted")  # fmt: skip
    return 0


def _schedule(address: str | None, settings: Settings) -> int:
    from journeys.cli.schedules import EXPERIMENT_SCHEDULE, ensure_experiment_schedule
    from journeys.config.temporal import connect

    async def go() -> str:
        try:
            client = await connect(settings, address=address)
        except RuntimeError as err:
            raise ConfigError(f"cannot reach Temporal: {err}") from err
        outcome = await ensure_experiment_schedule(client, settings)
        every = settings.experiment_evaluation_interval
        return f"schedule {EXPERIMENT_SCHEDULE} {outcome}: every {every}"

    print(asyncio.run(go()))
    return 0

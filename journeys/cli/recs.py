"""`journeys recs`: offline evaluation of the recommenders on CSV files (`recs evaluate`) and
the training schedule (`recs schedule`).

    journeys recs evaluate interactions.csv [--catalogue items.csv] [--k 10] [--json]

Interactions: `user_id,item_id,timestamp` (epoch seconds or ISO 8601), optional `quantity` and
`order_id`. Catalogue: `item_id,name,description,category`. Problems go to stderr as one line
and the exit code is 1.
"""

import argparse
import asyncio
import csv
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from journeys.config.settings import ConfigError, Settings

if TYPE_CHECKING:  # numpy and scipy load only when a recs command runs
    from journeys.recommendations.evaluate import Report
    from journeys.recommendations.types import CatalogueItem, Interaction

COMMAND = "recs"
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
CATALOGUE_COLUMNS = ("item_id", "name", "description", "category")


class InputError(Exception):
    """A file that cannot be read as the CSV it should be; the message names file and line."""


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    recs = sub.add_parser(COMMAND, help="recommendations: offline evaluation, training schedule")
    actions = recs.add_subparsers(dest="action", required=True)
    ev = actions.add_parser(
        "evaluate", help="precision@k and recall@k of each recommender vs popularity"
    )
    ev.add_argument(
        "interactions", type=Path, help="CSV: user_id,item_id,timestamp[,quantity,order_id]"
    )
    ev.add_argument("--catalogue", type=Path, help="CSV: item_id,name,description,category")
    ev.add_argument("--k", type=int, default=10, help="list length (default 10)")
    ev.add_argument(
        "--holdout", type=float, default=0.2,
        help="share of each user's latest baskets held out (default 0.2, at least one)",
    )  # fmt: skip
    ev.add_argument("--half-life-days", type=float, default=7.0, help="trending's decay")
    ev.add_argument(
        "--repeat-purchases", action="store_true",
        help="count products the user already had (groceries); default: only new products",
    )  # fmt: skip
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    schedule = actions.add_parser(
        "schedule", help="create or update the Temporal Schedule that trains the recommenders"
    )
    schedule.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "schedule":
        return _schedule(args, settings)
    try:
        if args.k < 1:
            raise InputError(f"--k must be at least 1 (got {args.k})")
        if not 0 < args.holdout < 1:
            raise InputError(f"--holdout must be between 0 and 1 (got {args.holdout})")
        if args.half_life_days <= 0:
            raise InputError(f"--half-life-days must be more than 0 (got {args.half_life_days})")
        from journeys.recommendations.evaluate import evaluate

        interactions = read_interactions(args.interactions)
        catalogue = read_catalogue(args.catalogue) if args.catalogue else []
    except InputError as err:
        print(f"journeys recs evaluate: {err}", file=sys.stderr)
        return 1
    report = evaluate(
        interactions,
        catalogue,
        k=args.k,
        holdout=args.holdout,
        half_life_days=args.half_life_days,
        repeat_purchases=args.repeat_purchases,
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0


def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    from journeys.cli.schedules import TRAINING_SCHEDULE, ensure_training_schedule
    from journeys.config.temporal import connect

    async def go() -> str:
        try:
            client = await connect(settings, address=args.address)
        except RuntimeError as err:
            raise ConfigError(f"cannot reach Temporal: {err}") from err
        outcome = await ensure_training_schedule(client, settings)
        every = settings.recommendation_training_interval
        return f"schedule {TRAINING_SCHEDULE} {outcome}: every {every}"

    print(asyncio.run(go()))
    return 0


def render(report: "Report") -> str:
    """The report as a Markdown table, popularity first."""
    from journeys.recommendations.evaluate import fmt

    lines = [
        f"{report.interactions} interactions, {report.customers} users, {report.products} items;"
        f" {report.test_customers} users with held-out data (holdout {report.holdout:g});"
        f" k={report.k}",
        "",
        f"| recommender | precision@{report.k} | recall@{report.k} | × popularity (P) | users"
        " | own slots | fit s | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = report.scores[0].precision if report.scores else None
    for s in report.scores:
        ratio = (
            f"{s.precision / base:.2f}"
            if s.precision is not None and base and not math.isnan(base)
            else "—"
        )
        own = "—" if s.own_share is None else f"{s.own_share:.0%}"
        fit = "—" if s.fit_seconds is None else f"{s.fit_seconds:.2f}"
        lines.append(
            f"| {s.kind} | {fmt(s.precision)} | {fmt(s.recall)} | {ratio} | {s.customers or '—'}"
            f" | {own} | {fit} | {s.note} |"
        )
    return "\n".join(lines)


def read_interactions(path: Path) -> "list[Interaction]":
    from journeys.recommendations.types import Interaction

    rows = _rows(path, INTERACTION_COLUMNS)
    interactions = []
    for line, row in rows:
        quantity = 1.0
        if row.get("quantity") not in (None, ""):
            try:
                quantity = float(row["quantity"])
            except ValueError:
                raise InputError(f"{path}:{line}: bad quantity {row['quantity']!r}") from None
            if not math.isfinite(quantity) or quantity <= 0:
                raise InputError(f"{path}:{line}: quantity must be more than 0")
        for column in ("user_id", "item_id"):
            if not row[column]:
                raise InputError(f"{path}:{line}: empty {column}")
        interactions.append(
            Interaction(
                customer=row["user_id"],
                product=row["item_id"],
                timestamp=_timestamp(row["timestamp"], f"{path}:{line}"),
                quantity=quantity,
                order_id=row.get("order_id") or None,
            )
        )
    if not interactions:
        raise InputError(f"{path}: no interactions")
    return interactions


def read_catalogue(path: Path) -> "list[CatalogueItem]":
    from journeys.recommendations.types import CatalogueItem

    items: dict[str, CatalogueItem] = {}
    for line, row in _rows(path, CATALOGUE_COLUMNS[:1]):
        if not row["item_id"]:
            raise InputError(f"{path}:{line}: empty item_id")
        items[row["item_id"]] = CatalogueItem(
            product_id=row["item_id"],
            name=row.get("name") or "",
            description=row.get("description") or "",
            category=row.get("category") or "",
        )
    return list(items.values())


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            missing = [c for c in required if c not in columns]
            if missing:
                raise InputError(
                    f"{path}: missing column {', '.join(missing)} (header: {','.join(columns)})"
                )
            return [(n + 2, row) for n, row in enumerate(reader)]
    except OSError as err:
        raise InputError(f"{path}: {err.strerror or err}") from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a UTF-8 CSV file ({err})") from err


def _timestamp(value: str | None, where: str) -> float:
    text = (value or "").strip()
    try:
        number = float(text)
        if math.isfinite(number):
            return number
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: bad timestamp {text!r} (epoch seconds or ISO 8601)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

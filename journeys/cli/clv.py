"""`journeys clv fit`: BG/NBD and Gamma-Gamma fitted to any transaction file; `journeys clv
schedule`: the Temporal Schedule `clv-fit` that fits them to the store's orders and writes the
predictions as traits (activities/kpis.py).

    journeys clv fit --transactions tx.csv [--calibration-end 1997-09-30] [--unit weeks]
                     [--horizon 52] [--predictions out.csv] [--json]
    journeys clv schedule [--unit weeks] [--horizon-days 90] [--window-days N] [--address H:P]

The CSV has `customer_id,date,amount` (a header row; dates as YYYY-MM-DD or YYYYMMDD). Prints
the fitted parameters under the literature's names and the log-likelihoods; `--predictions`
writes each customer's P(alive), expected purchases and expected value over the horizon.
"""

import argparse
import asyncio
import csv
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from journeys.config.settings import ConfigError, Settings
from journeys.kpis.clv import Customers, fit_bgnbd, fit_gamma_gamma, summarise

COMMAND = "clv"
UNITS = {"days": 1, "weeks": 7}


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    clv = sub.add_parser(COMMAND, help="predictive customer lifetime value (BG/NBD, Gamma-Gamma)")
    actions = clv.add_subparsers(dest="action", required=True)
    fit = actions.add_parser("fit", help="fit both models to a transaction CSV")
    fit.add_argument("--transactions", type=Path, required=True,
                     help="CSV with customer_id,date,amount")  # fmt: skip
    fit.add_argument("--calibration-end", type=_day, help="default: the last transaction's date")
    fit.add_argument("--unit", choices=sorted(UNITS), default="weeks", help="time unit (weeks)")
    fit.add_argument("--horizon", type=float, default=52.0, help="units ahead to predict (52)")
    fit.add_argument("--predictions", type=Path, help="write per-customer predictions here")
    fit.add_argument("--json", action="store_true", help="machine-readable output")
    schedule = actions.add_parser(
        "schedule",
        help="create or update the Temporal Schedule `clv-fit` (every JOURNEYS_CLV_FIT_INTERVAL):"
        " fit the store's orders, write p_alive, churn_risk, expected_purchases, predicted_clv",
    )
    schedule.add_argument("--unit", choices=sorted(UNITS), default="weeks", help="time unit")
    schedule.add_argument(
        "--horizon-days", type=float, default=90.0,
        help="days ahead for expected_purchases and predicted_clv (90)",
    )  # fmt: skip
    schedule.add_argument(
        "--window-days", type=float, help="fit on the orders of this many days only (default: all)"
    )
    schedule.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "schedule":
        return _schedule(args, settings)
    rows = list(_transactions(args.transactions))
    if not rows:
        raise ConfigError(f"{args.transactions}: no transactions")
    end = args.calibration_end or max(day for _, day, _ in rows)
    customers = summarise(rows, end, UNITS[args.unit])
    try:
        frequency = fit_bgnbd(customers)
        spend = fit_gamma_gamma(customers)
    except ValueError as err:
        raise ConfigError(f"{args.transactions}: {err}") from err
    report: dict[str, Any] = {
        "customers": len(customers.ids),
        "repeat_customers": int((customers.x > 0).sum()),
        "calibration_end": end.isoformat(),
        "unit": args.unit,
        "bg_nbd": frequency.params(),
        "gamma_gamma": spend.params(),
    }
    if args.predictions:
        _write_predictions(args.predictions, customers, frequency, spend, args.horizon)
        report["predictions"] = str(args.predictions)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['customers']} customers ({report['repeat_customers']} with repeat purchases),"
        f" calibration to {report['calibration_end']}, time in {args.unit}"
    )
    for model, params in (("BG/NBD", frequency.params()), ("Gamma-Gamma", spend.params())):
        values = "  ".join(f"{k}={v:.4f}" for k, v in params.items() if k != "log_likelihood")
        print(f"{model:12} {values}  log-likelihood={params['log_likelihood']:.2f}")
    return 0


def _schedule(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from journeys.cli.schedules import CLV_FIT_SCHEDULE, ensure_clv_schedule
    from journeys.config.temporal import connect
    from journeys.vocabulary.kpi_types import ClvFitInput

    try:
        input = ClvFitInput(unit=args.unit, horizon_days=args.horizon_days,
                            window_days=args.window_days)  # fmt: skip
    except ValidationError as err:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                             for e in err.errors())  # fmt: skip
        raise ConfigError(problems) from None

    async def go() -> str:
        try:
            client = await connect(settings, address=args.address)
        except RuntimeError as err:
            raise ConfigError(f"cannot reach Temporal: {err}") from err
        outcome = await ensure_clv_schedule(client, settings, input)
        return (
            f"schedule {CLV_FIT_SCHEDULE} {outcome}: every {settings.clv_fit_interval} on task"
            f" queue {settings.task_queue} ({input.unit}, {input.horizon_days:g}-day horizon)"
        )

    print(asyncio.run(go()))
    return 0


def _write_predictions(path: Path, c: Customers, frequency, spend, horizon: float) -> None:  # type: ignore[no-untyped-def]
    alive = frequency.p_alive(c.x, c.t_x, c.T)
    purchases = frequency.expected_purchases(horizon, c.x, c.t_x, c.T)
    value = purchases * spend.expected_spend(c.x, c.monetary)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "x", "t_x", "T", "p_alive", "expected_purchases",
                         "expected_value"])  # fmt: skip
        for i, customer in enumerate(c.ids):
            row = [int(c.x[i]), round(c.t_x[i], 4), round(c.T[i], 4), round(alive[i], 6),
                   round(purchases[i], 6), round(value[i], 4)]  # fmt: skip
            writer.writerow([customer, *row])


def _day(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text[:10] if "-" in text else text, pattern).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")


def _transactions(path: Path) -> Iterator[tuple[str, date, float]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from err
    with handle:
        reader = csv.DictReader(handle)
        missing = {"customer_id", "date", "amount"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                yield row["customer_id"], _day(row["date"]), float(row["amount"])
            except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
                raise ConfigError(f"{path}: line {line}: {err}") from err

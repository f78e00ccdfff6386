"""`journeys backtest` on the real CDNOW transaction history (the `lifetimes==0.11.3` wheel:
23,570 customers' CD orders, January 1997 to June 1998): what the shipped journeys would have
done, and how fast the backtest runs, in simulated customer-days a second.

Each order becomes an `Order Completed` call at its day; CDNOW has no addresses, so each customer
gets an `identify` with a placeholder address (example.invalid) an hour before its first order,
or every email would be skipped for want of one. The backtest is `journeys backtest` itself, run
as a child process on the log written to a temporary folder (the data is never committed).

    python -m bench.backtest                         # every customer, post_purchase
    python -m bench.backtest --customers 1000 2000 4000   # how the speed grows with customers
    python -m bench.backtest --journey win_back --json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/backtest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import machine  # noqa: E402
from bench.wheels import read  # noqa: E402
from journeys.data import JOURNEYS  # noqa: E402

CDNOW = ("lifetimes", "0.11.3", "lifetimes/datasets/CDNOW_master.txt")
FLOOR_TARGET = 10_000  # customer-days a second (issue: the whole of CDNOW in about 22 minutes)


def cdnow_orders() -> list[tuple[str, datetime, int, float]]:
    """(customer, day, CDs, dollars) per CDNOW order line, in file order (by customer)."""
    rows = []
    for line in read(*CDNOW).decode().splitlines()[1:]:
        customer, day, cds, dollars = line.split()
        moment = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
        rows.append((f"cdnow-{customer}", moment, int(cds), float(dollars)))
    return rows


def write_log(path: Path, customers: int | None) -> tuple[int, int]:
    """The NDJSON log of the first `customers` customers (all by default); (calls, customers)."""
    orders = cdnow_orders()
    chosen = sorted({c for c, *_ in orders})[:customers]
    keep = set(chosen)
    calls = 0
    seen: set[str] = set()
    with path.open("w") as out:
        for n, (customer, day, cds, dollars) in enumerate(orders):
            if customer not in keep:
                continue
            if customer not in seen:
                seen.add(customer)
                identify = {
                    "type": "identify", "userId": customer, "messageId": f"{customer}-identify",
                    "timestamp": (day - timedelta(hours=1)).isoformat(),
                    "traits": {"email": f"{customer}@example.invalid"},
                }  # fmt: skip
                out.write(json.dumps(identify) + "\n")
                calls += 1
            order = {
                "type": "track", "userId": customer, "event": "Order Completed",
                "messageId": f"{customer}-order-{n}", "timestamp": day.isoformat(),
                "properties": {"order_id": f"{customer}-{n}", "total": dollars, "quantity": cds},
            }  # fmt: skip
            out.write(json.dumps(order) + "\n")
            calls += 1
    return calls, len(chosen)


def run(journey: str, log: Path, extra: list[str]) -> tuple[dict[str, Any], float, str]:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "journeys.cli.main", "backtest", str(JOURNEYS / f"{journey}.yaml"),
         "--events", str(log), "--json", *extra],
        capture_output=True, text=True, env={**os.environ, "JOURNEYS_LOG_FORMAT": "json"},
    )  # fmt: skip
    seconds = time.monotonic() - began
    if done.returncode != 0:
        sys.exit(f"journeys backtest failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds, done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers", type=int, nargs="*", default=[],
        help="run on the first N customers (several: one run each); all by default",
    )  # fmt: skip
    parser.add_argument("--journey", default="post_purchase", help="a shipped journey")
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        for size in args.customers or [None]:
            log = Path(tmp) / f"cdnow-{size or 'all'}.ndjson"
            calls, customers = write_log(log, size)
            report, seconds, said = run(args.journey, log, [])
            start = datetime.fromisoformat(report["window"]["from"])
            end = datetime.fromisoformat(report["window"]["to"])
            customer_days = customers * (end - start).total_seconds() / 86_400
            speed = customer_days / seconds
            runs.append({
                "customers": customers, "calls": calls, "days": (end - start).days,
                "seconds": round(seconds, 1), "customer_days_per_s": round(speed),
                "ratio_to_target": round(speed / FLOOR_TARGET, 3), "backtest_said": said,
                "report": report,
            })  # fmt: skip
            print(
                f"[bench] {customers} customers, {calls} calls, {(end - start).days} days: "
                f"{seconds:.1f} s, {speed:,.0f} customer-days/s ({speed / FLOOR_TARGET:.2f} of "
                f"{FLOOR_TARGET:,}); entered {report['entries']['runs']}, sent "
                f"{report['messages']['by_channel']}",
                file=sys.stderr, flush=True,
            )  # fmt: skip
    result = {"benchmark": "backtest", "journey": args.journey, "machine": machine(), "runs": runs}
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

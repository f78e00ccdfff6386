"""`journeys backtest` on the real CDNOW transaction history (the `lifetimes==0.11.3` wheel:
23,570 customers' CD orders, January 1997 to June 1998): what the shipped journeys would have
done, and how fast the backtest runs, in simulated customer-days a second.

Each order becomes an `Order Completed` call at its day; CDNOW has no addresses, so each customer
gets an `identify` with a placeholder address (example.invalid) an hour before its first order,
or every email would be skipped for want of one. The backtest is `journeys backtest` itself, run
as a child process on the log written to a temporary folder (the data is never committed).

Beside it, in the same run, the floor: the cheapest the time-skipping server can do this job
here — a bare workflow per customer, started by the first order, that does post_purchase's sends
(one no-op activity each) and waits (one timer each), fed the same calls the same way (the clock
advanced to each day, one signal-with-start per call), in one worker process without the sandbox,
in shards of 1,000 customers (--shard-size), --jobs at once as the backtest runs them.

    python -m bench.backtest                               # every customer, post_purchase
    python -m bench.backtest --customers 1000 2000 4000   # how the speed grows with customers
    python -m bench.backtest --customers 1000 --json
    python -m bench.backtest --write-log cdnow.ndjson    # only the log, for `journeys backtest`
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/backtest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import activity, workflow  # noqa: E402
from temporalio.worker import UnsandboxedWorkflowRunner, Worker  # noqa: E402

from bench.stack import machine  # noqa: E402
from bench.wheels import read  # noqa: E402
from journeys.backtest.run import advance_clock, sleep_simulated  # noqa: E402
from journeys.cli.backtest import SHARD_SIZE  # noqa: E402
from journeys.config.temporal import quiet_runtime  # noqa: E402
from journeys.data import JOURNEYS  # noqa: E402
from journeys.devserver import start_time_skipping  # noqa: E402

CDNOW = ("lifetimes", "0.11.3", "lifetimes/datasets/CDNOW_master.txt")
TARGET = 10_000  # customer-days a second (issue 15: the whole of CDNOW in about 22 minutes)
# post_purchase's sends and waits (thanks, 2 d, tips, 3 d for the app, nudge, 2 d, 10:00, survey)
FLOOR_PLAN = ["send", timedelta(days=2), "send", timedelta(days=3), "send", timedelta(days=2),
              timedelta(hours=10), "send"]  # fmt: skip


@activity.defn(name="floor_send")
async def floor_send() -> None:
    """A send that does nothing: the floor counts Temporal's part only."""


@workflow.defn(name="FloorCustomer", sandboxed=False)
class FloorCustomer:
    def __init__(self) -> None:
        self.ordered = False

    @workflow.signal
    def call(self, event: str) -> None:
        self.ordered = self.ordered or event == "Order Completed"

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.ordered)
        for step in FLOOR_PLAN:
            if isinstance(step, timedelta):
                await workflow.sleep(step)
            else:
                await workflow.execute_activity(
                    floor_send, start_to_close_timeout=timedelta(minutes=1)
                )
        await workflow.wait_condition(lambda: False)  # a customer lives on


def floor(log: Path, shard_size: int = SHARD_SIZE, jobs: int = 1) -> float:
    """Seconds the floor takes over `log` (read whole: the bench's logs fit in memory), in
    shards of customers as the backtest runs them (dealt out in the order of their ids): one
    after another, or `jobs` at once in processes of their own (then the wall time of them
    all, their start-up included, as the backtest's)."""
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    calls.sort(key=lambda c: c["timestamp"])
    customers = sorted({c["userId"] for c in calls})
    shards = max(1, -(-len(customers) // shard_size))
    shard_of = {customer: n % shards for n, customer in enumerate(customers)}
    parts = [[c for c in calls if shard_of[c["userId"]] == shard] for shard in range(shards)]
    if min(jobs, shards) <= 1:
        return sum(_floor_shard_process(part) for part in parts)
    began = time.monotonic()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        list(pool.map(_floor_shard_process, parts))
    return time.monotonic() - began


def _floor_shard_process(calls: list[dict[str, Any]]) -> float:
    return asyncio.run(floor_shard(calls))


async def floor_shard(calls: list[dict[str, Any]]) -> float:
    env = await start_time_skipping(quiet_runtime())
    began = time.monotonic()
    try:
        start = await env.get_current_time()
        shift = start - datetime.fromisoformat(calls[0]["timestamp"]) + timedelta(days=1)
        async with Worker(
            env.client, task_queue="floor", workflows=[FloorCustomer], activities=[floor_send],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):  # fmt: skip
            by_day: dict[str, list[dict[str, Any]]] = {}
            for c in calls:
                by_day.setdefault(c["timestamp"], []).append(c)
            for day, group in by_day.items():
                await advance_clock(env, datetime.fromisoformat(day) + shift)
                await asyncio.gather(*(
                    env.client.start_workflow(
                        FloorCustomer.run, id=f"floor-{c['userId']}", task_queue="floor",
                        start_signal="call", start_signal_args=[c.get("event") or c["type"]],
                    )
                    for c in group
                ))  # fmt: skip
            last = datetime.fromisoformat(calls[-1]["timestamp"]) + shift
            end = last.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            await advance_clock(env, end)
            await sleep_simulated(env, timedelta(seconds=1))
        return time.monotonic() - began
    finally:
        await env.shutdown()


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
    """`journeys backtest` as a user runs it, timed as a whole (start-up included)."""
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
    parser.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    parser.add_argument(
        "--shard-size", type=int, default=SHARD_SIZE, metavar="N",
        help=f"customers to a test server, for the backtest and the floor (default {SHARD_SIZE})",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
        help="shards at once, each in a process of its own, for the backtest and the floor "
        "(default: the number of cores)",
    )  # fmt: skip
    parser.add_argument(
        "--write-log", type=Path, metavar="FILE",
        help="only write the CDNOW log (of the first --customers) to FILE and stop",
    )  # fmt: skip
    args = parser.parse_args()
    if args.write_log:
        calls, customers = write_log(args.write_log, (args.customers or [None])[0])
        print(f"[bench] {args.write_log}: {calls} calls of {customers} customers", file=sys.stderr)
        return
    extra = ["--shard-size", str(args.shard_size), "--jobs", str(args.jobs)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        for size in args.customers or [None]:
            log = Path(tmp) / f"cdnow-{size or 'all'}.ndjson"
            calls, customers = write_log(log, size)
            report, seconds, said = run("post_purchase", log, extra)
            floor_seconds = floor(log, args.shard_size, args.jobs)
            start = datetime.fromisoformat(report["window"]["from"])
            end = datetime.fromisoformat(report["window"]["to"])
            customer_days = customers * (end - start).total_seconds() / 86_400
            speed, floor_speed = customer_days / seconds, customer_days / floor_seconds
            runs.append({
                "customers": customers, "calls": calls, "days": (end - start).days,
                "seconds": round(seconds, 1), "customer_days_per_s": round(speed),
                "floor_seconds": round(floor_seconds, 1),
                "floor_customer_days_per_s": round(floor_speed),
                "ratio_to_floor": round(speed / floor_speed, 3),
                "ratio_to_target": round(speed / TARGET, 3), "backtest_said": said,
                "report": report,
            })  # fmt: skip
            print(
                f"[bench] {customers} customers, {calls} calls, {(end - start).days} days: "
                f"{seconds:.1f} s, {speed:,.0f} customer-days/s; floor {floor_seconds:.1f} s, "
                f"{floor_speed:,.0f}/s; ratio to floor {speed / floor_speed:.2f}, to the target "
                f"{TARGET:,} {speed / TARGET:.2f}; entered {report['entries']['runs']}, sent "
                f"{report['messages']['by_channel']}",
                file=sys.stderr, flush=True,
            )  # fmt: skip
    result = {"benchmark": "backtest", "journey": "post_purchase", "machine": machine(),
              "args": vars(args), "runs": runs}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

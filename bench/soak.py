"""Soak: a steady offered rate for an hour, memory, latency and history sampled every minute,
a verdict on trends and on every event and message.

One stack of separate processes on free loopback ports (bench/chaos.py's: the Temporal dev
server on a SQLite file, `journeys api`, `journeys worker`, a real SMTP receiver and a real HTTP
receiver). Visits arrive at a steady rate so that --rate calls a second are offered for
--minutes: a new customer's first visit (identify, page, Product Viewed, Checkout Started,
Order Completed) or, --returning of the time, a returning customer's next (the same without
identify); each visit's calls go one after another through the same retrying Segment-like
client. New customers keep the journeys sending all hour. Every --sample-seconds it records
the resident memory of worker, server and API, the calls and emails of the interval with their
event → email latency, the longest customer history among a sample, and a `state` query's
time.

The verdict (exit code 0 only if all hold):
  - every call accepted;
  - every customer applied exactly the calls it sent (its state's event total);
  - every message the send ledger says was sent was received once, nothing else received;
  - nothing stuck at the end (no failing workflow task, no retrying activity, no backlog);
  - worker and server memory flat once the load is steady: the worker's workflow cache full
    (read from the SDK's `temporal_sticky_cache_size`; until then every new customer is cached,
    growth by design) and --warmup-minutes past (40: the welcome journey's 30-minute wait
    starts firing at minute 30, and from then on every new customer's welcome run wakes again,
    is replayed and sends its popover: a second stream of work that settles within minutes):
    the Theil–Sen slope of their resident memory at most --max-slope MB an hour; a run whose
    cache never fills cannot say, and fails these checks (run longer, or a smaller --cache);
  - `state` queries within 2 s.
The samples go to JSON (--json) and to a PNG (--png, drawn with matplotlib).

    .venv/bin/python -m bench.soak [--minutes 60] [--rate 10] [--png soak.png] [--postgres]
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from scipy.stats import theilslopes  # noqa: E402
from sqlmodel import select  # noqa: E402

from bench.chaos import QUERY_BUDGET_S, Run, databases  # noqa: E402
from bench.stack import (  # noqa: E402
    free_port,
    group_peak_rss_mb,
    group_threads,
    log,
    machine,
    percentiles,
)
from journeys.channels.email import message_id  # noqa: E402
from journeys.config.settings import Settings  # noqa: E402
from journeys.store.db import session_scope  # noqa: E402
from journeys.store.models import Message  # noqa: E402
from journeys.vocabulary.ids import customer_workflow_id  # noqa: E402

CYCLE = ("page", "Product Viewed", "Checkout Started", "Order Completed")
TRIGGERS = {"Welcome": "page", "Thank you for your order": "Order Completed"}


@dataclass
class Sample:
    minute: float  # since the first call
    worker_mb: float
    server_mb: float
    api_mb: float
    calls: int  # accepted in the interval
    emails: int  # received in the interval
    latency_p50_s: float | None
    latency_p99_s: float | None
    longest_history: int  # among the sampled customers
    query_s: float  # one `state` query; inf: failed
    cached: int | None = None  # workflows in the worker's cache (SDK metric); None: unread
    worker_threads: int | None = None  # OS threads of the worker (Python's and the SDK core's)


class Soak:
    def __init__(self, args: argparse.Namespace, run: Run) -> None:
        self.args, self.run = args, run
        self.prefix = f"soak-{os.urandom(2).hex()}"
        self.users: list[str] = []  # every customer so far
        self.returning: list[str] = []  # those whose first visit is over
        self.sent: Counter[str] = Counter()  # accepted calls per customer
        self.sent_names: dict[str, Counter[str]] = {}  # per customer: accepted calls by name
        self.step: dict[str, int] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.last_trigger: dict[tuple[str, str], float] = {}
        self.samples: list[Sample] = []
        self.rng = random.Random(1)
        self.sequence = 0

    def next_call(self, user: str) -> tuple[str, str, dict[str, Any]]:
        """(trigger, path, body) of this customer's next call in its cycle."""
        self.sequence += 1
        step = self.step.get(user, -1)
        self.step[user] = step + 1
        base = {
            "userId": user,
            "messageId": f"{user}-{step + 1}",
            "timestamp": datetime.now(UTC).isoformat(),
        }
        if step < 0:
            return "identify", "/v1/identify", base | {"traits": {"email": f"{user}@soak.test"}}
        name = CYCLE[step % len(CYCLE)]
        product = {"product_id": f"p-{step % 7}", "name": "Mug", "price": 12.0, "quantity": 1}
        if name == "page":
            return name, "/v1/page", base | {"name": "Home"}
        properties: dict[str, Any] = {
            "Product Viewed": product,
            "Checkout Started": {"cart_id": f"c-{user}-{step}", "products": [product]},
            "Order Completed": {"order_id": f"o-{user}-{step}", "total": 12.0,
                                "products": [product]},
        }[name]  # fmt: skip
        return name, "/v1/track", base | {"event": name, "properties": properties}

    async def visit(self, user: str, calls: int) -> None:
        """A visit: the customer's next `calls` calls, one after another, in order."""
        async with self.locks[user]:
            for _ in range(calls):
                trigger, path, body = self.next_call(user)
                call = await self.run.segment.post(path, body, replica=self.sequence)
                if call.accepted is None:
                    return  # the rest would come out of order; the verdict reports it
                self.sent[user] += 1
                self.sent_names.setdefault(user, Counter())[trigger] += 1
                self.last_trigger[(user, trigger)] = call.accepted
                if user not in self.run.started_users:
                    self.run.started_users.append(user)
        if calls == 1 + len(CYCLE):
            self.returning.append(user)

    async def drive(self) -> None:
        """Visits at a steady rate — a new customer's first (identify, then the shop's cycle)
        or, --returning of the time, a returning customer's next cycle — so that --rate calls
        a second are offered and messages keep going out all hour."""
        started = time.time()
        end = started + self.args.minutes * 60
        share = self.args.returning
        calls_per_visit = share * len(CYCLE) + (1 - share) * (1 + len(CYCLE))
        visits_per_s = self.args.rate / calls_per_visit
        sampler = asyncio.create_task(self.sample_every(started, end))
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while time.time() < end:
            await asyncio.sleep(max(0.0, started + i / visits_per_s - time.time()))
            if self.returning and self.rng.random() < share:
                user, calls = self.rng.choice(self.returning), len(CYCLE)
            else:
                user, calls = f"{self.prefix}-{len(self.users)}", 1 + len(CYCLE)
                self.users.append(user)
                self.locks[user] = asyncio.Lock()
            task = asyncio.create_task(self.visit(user, calls))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        await asyncio.gather(*tasks)
        await sampler
        self.run.sent_at = time.time()

    async def sample_every(self, started: float, end: float) -> None:
        previous = started
        while True:
            await asyncio.sleep(max(0.0, previous + self.args.sample_seconds - time.time()))
            now = time.time()
            self.samples.append(await self.sample(started, previous, now))
            log(f"soak: {self.samples[-1]}")
            previous = now
            if now >= end - 1:
                return

    async def sample(self, started: float, since: float, now: float) -> Sample:
        groups = self.run.stack.groups()

        def rss(prefix: str) -> float:
            return sum(
                group_peak_rss_mb(pgid, field="VmRSS")
                for name, pgid in groups.items()
                if name.startswith(prefix)
            )

        with self.run.smtp.lock:
            emails = [m for m in self.run.smtp.messages if since <= m.at < now]
        latencies = []
        for m in emails:
            trigger = next((t for s, t in TRIGGERS.items() if m.subject.startswith(s)), None)
            at = self.last_trigger.get((m.to.split("@")[0], trigger or ""))
            if at is not None and at <= m.at:
                latencies.append(m.at - at)
        calls = sum(1 for c in self.run.segment.calls if c.accepted and since <= c.accepted < now)
        longest, query_s = 0, float("inf")
        known = list(self.run.started_users)
        for user in random.Random(int(now)).sample(known, min(len(known), 20)):
            handle = self.run.client.get_workflow_handle(customer_workflow_id(user))
            info = (await handle.describe()).raw_description.workflow_execution_info
            longest = max(longest, info.history_length)
        if known:
            begin = time.monotonic()
            handle = self.run.client.get_workflow_handle(customer_workflow_id(known[-1]))
            try:
                await handle.query("state", rpc_timeout=timedelta(seconds=QUERY_BUDGET_S * 2))
                query_s = time.monotonic() - begin
            except Exception:  # noqa: BLE001  (counted as failed)
                pass
        spread = percentiles(latencies)
        cached = await cached_workflows(self.args.metrics_port)
        threads = sum(group_threads(pgid) for n, pgid in groups.items() if n.startswith("worker"))
        return Sample(
            minute=round((now - started) / 60, 2), worker_mb=rss("worker"),
            server_mb=rss("temporal"), api_mb=rss("api"), calls=calls, emails=len(emails),
            latency_p50_s=spread["p50"], latency_p99_s=spread["p99"], longest_history=longest,
            query_s=query_s, cached=cached,
            worker_threads=threads,
        )  # fmt: skip

    def ledger(self) -> set[str]:
        """The Message-IDs and Idempotency-Keys of every message the ledger says was sent."""
        received = next(iter(self.run.smtp.messages), None)
        domain = received.message_id.rsplit("@", 1)[-1].rstrip(">") if received else "x"
        with session_scope(self.run.database_url) as session:
            rows = session.exec(select(Message).where(Message.status == "sent")).all()
            return {
                message_id(m.idempotency_key, domain)
                if m.channel == "email"
                else f"/{m.channel} {m.idempotency_key}"
                for m in rows
            }


async def cached_workflows(port: int) -> int | None:
    """The worker's `temporal_sticky_cache_size` gauge: how many workflows it holds."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.HTTPError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("temporal_sticky_cache_size")]  # fmt: skip
    return int(sum(values)) if values else None


def warm_from(samples: list[Sample], cache: int, at_least: float) -> float | None:
    """The minute memory starts to be judged: once the worker's cache is full (before that
    every new customer adds a cached workflow, which is growth by design), and not before
    `at_least`. None: the cache never filled in this run."""
    full = next((s.minute for s in samples if s.cached is not None and s.cached >= cache), None)
    return None if full is None else max(full, at_least)


def slope_mb_per_hour(samples: list[Sample], attribute: str, warmup_minutes: float) -> float | None:
    """Theil–Sen slope of a memory series after the warm-up, robust to a few odd samples."""
    points = [(s.minute, getattr(s, attribute)) for s in samples if s.minute >= warmup_minutes]
    if len(points) < 3:
        return None
    slope = theilslopes([p[1] for p in points], [p[0] for p in points]).slope
    return float(slope) * 60


def verdict(soak: Soak, outcome: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    calls = soak.run.segment.calls
    refused = [c.refused for c in calls if c.accepted is None]
    off = {}
    for user, names in soak.sent_names.items():
        counts = outcome.customers.get(user, {}).get("event_counts", {})
        applied = {name: counts.get(name, 0) for name in names}
        if applied != dict(names):
            off[user] = {"applied": applied, "sent": dict(names), "all": counts}
    sent = soak.ledger()
    received = soak.run.messages()  # read after the ledger: nothing sent since is missed
    twice = [k for k, n in received.items() if n > 1]
    missing, unknown = sent - set(received), set(received) - sent
    checks = [
        {"check": "every call accepted", "ok": not refused,
         "detail": f"{len(calls)} calls" + (f"; refused: {refused[:3]}" if refused else "")},
        {"check": "every customer applied exactly the calls it sent", "ok": not off,
         "detail": f"{len(soak.sent)} customers, {sum(soak.sent.values())} calls, "
                   f"{len(off)} off" + (f": {list(off.items())[:3]}" if off else "")},
        {"check": "every sent message received once, nothing else", "ok":
            bool(sent) and not (twice or missing or unknown),
         "detail": f"{len(sent)} sent, {len(missing)} missing, {len(unknown)} unknown, "
                   f"{len(twice)} twice"},
        {"check": "nothing stuck", "ok": not outcome.stuck and outcome.backlog == 0,
         "detail": f"{len(outcome.stuck)} stuck, backlog {outcome.backlog}"},
    ]  # fmt: skip
    warm = warm_from(soak.samples, args.cache, args.warmup_minutes)
    most = max((s.cached or 0 for s in soak.samples), default=0)
    for part in ("worker_mb", "server_mb"):
        slope = None if warm is None else slope_mb_per_hour(soak.samples, part, warm)
        checks.append({
            "check": f"{part.removesuffix('_mb')} memory flat once the cache is full and the "
            "load steady",
            "ok": slope is not None and slope <= args.max_slope,
            "detail": f"the cache never filled ({most} of {args.cache} workflows): cannot judge"
            if warm is None else f"too few samples after minute {warm}" if slope is None
            else f"slope {slope:.1f} MB/h from minute {warm} (at most {args.max_slope})",
        })  # fmt: skip
    slow = [s.query_s for s in soak.samples if s.query_s > QUERY_BUDGET_S]
    checks.append({"check": "state queries within 2 s", "ok": not slow,
                   "detail": f"{len(soak.samples)} sent, {len(slow)} slow or failed"})  # fmt: skip
    return checks


def plot(samples: list[Sample], path: Path, title: str, judged_from: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.minute for s in samples]
    fig, (memory, latency, history) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for attribute, label in (("worker_mb", "worker"), ("server_mb", "Temporal server"),
                             ("api_mb", "API")):  # fmt: skip
        memory.plot(minutes, [getattr(s, attribute) for s in samples], marker=".", label=label)
    if judged_from is not None:
        memory.axvline(judged_from, linestyle="--", color="grey", label="memory judged from")
    memory.set_ylabel("resident memory, MB")
    memory.legend()
    memory.set_title(title)
    for attribute, label in (("latency_p50_s", "p50"), ("latency_p99_s", "p99")):
        values = [getattr(s, attribute) for s in samples]
        latency.plot(minutes, [v if v is not None else float("nan") for v in values],
                     marker=".", label=label)  # fmt: skip
    latency.set_ylabel("event → email, s")
    latency.legend()
    history.plot(minutes, [s.longest_history for s in samples], marker=".")
    history.set_ylabel("longest customer history")
    history.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0, help="calls a second (default 10)")
    parser.add_argument(
        "--returning",
        type=float,
        default=0.5,
        help="the share of visits by a returning customer (default 0.5)",
    )
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=40.0,
        help="memory is judged from when the worker's cache is full, and not before this "
        "(default 40: the welcome journey's 30-minute wait adds work from minute 30)",
    )
    parser.add_argument(
        "--max-slope",
        type=float,
        default=30.0,
        help="MB an hour of worker or server memory growth allowed (default 30)",
    )
    parser.add_argument(
        "--cache",
        type=int,
        default=Settings.model_fields["max_cached_workflows"].default,
        help="the worker's JOURNEYS_MAX_CACHED_WORKFLOWS (default: the product's, 2,000)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="the store on a throw-away PostgreSQL cluster (Debian's postgresql)",
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument("--png", type=Path, help="plot the samples to this PNG file")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    return parser  # fmt: skip


async def _main(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    # what bench/chaos.py's Run reads: one API, one worker, no duplicates or faults
    run_args = argparse.Namespace(
        apis=1, workers=1, duplicates=0.0, down=2.0, concurrency=50, call_deadline=600.0,
        quiet=5.0, timeout=600.0, database_url=None, postgres=args.postgres,
    )  # fmt: skip
    with databases(run_args, tmp) as (store, url, _):
        run = Run("soak", run_args, tmp, url)
        run.extra_settings["JOURNEYS_MAX_CACHED_WORKFLOWS"] = str(args.cache)
        args.metrics_port = free_port()  # the SDK's metrics: how full the worker's cache is
        run.worker_settings["JOURNEYS_TEMPORAL_METRICS_PORT"] = str(args.metrics_port)
        with run.receivers():
            await run.start()
            soak = Soak(args, run)
            log(f"soak: {args.rate} calls/s, {args.returning:.0%} returning, {args.minutes} min")
            await soak.drive()
            await run.settle(set(), 0, soak.users)
            outcome = await run.outcome(soak.users)
            for http in run.https:
                await http.aclose()
    checks = verdict(soak, outcome, args)
    return {
        "benchmark": "soak",
        "pass": all(c["ok"] for c in checks),
        "store": store,
        "machine": machine(),
        # glibc's malloc arenas (a threaded process's memory can step up as more are used)
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "args": {k: str(v) for k, v in vars(args).items() if k != "json"},
        "checks": checks,
        "judged_from": warm_from(soak.samples, args.cache, args.warmup_minutes),
        "samples": [asdict(s) for s in soak.samples],
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="journeys-soak-"))
    try:
        rep = asyncio.run(_main(args, tmp))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.png:
        title = (
            f"soak: {args.rate} calls/s, {args.returning:.0%} of visits returning, {rep['store']}"
        )
        plot([Sample(**s) for s in rep["samples"]], args.png, title, rep["judged_from"])
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print(f"\nsoak verdict: {'PASS' if rep['pass'] else 'FAIL'}")
        for check in rep["checks"]:
            print(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['check']}: {check['detail']}")
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

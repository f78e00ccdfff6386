"""`journeys simulate --customers N`: synthetic shoppers (journeys.simulate.personas) — browse,
cart, order, app opens, reviews, returns, NPS answers, lapses — sent to a running stack's API
as a Segment library would (same messageId on a retry, back-off on 5xx, 429 and connection
errors; each customer's calls one after the other), for demos, load tests and the chaos run.
With `--output` they become a log instead: a backtest's input, timestamps spread over `--days`.

    journeys simulate --customers 200 --rate 20            # to the API (JOURNEYS_API_PORT)
    journeys simulate --customers 5000 --days 90 --output shop.ndjson
"""

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from journeys.cli.dev_stack import DATA_DIR, existing_dev_key
from journeys.config.settings import ConfigError, Settings
from journeys.simulate.personas import simulated_calls

COMMAND = "simulate"
RETRY_FOR_S = 120.0  # a call still refused after this long is given up (and reported)


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        COMMAND, help="send synthetic shoppers to a running stack (or write them as a log)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--customers", type=_positive, required=True, metavar="N")
    parser.add_argument(
        "--rate", type=_rate, default=10.0, metavar="R", help="calls a second (default 10)"
    )
    parser.add_argument(
        "--days", type=_rate, default=30.0, metavar="D",
        help="with --output: the log's span (customers arrive in its first half)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="the same seed, the same shoppers")
    parser.add_argument(
        "--output", metavar="FILE", help="write NDJSON (- for standard output) instead"
    )
    parser.add_argument("--url", help="the API (default: JOURNEYS_API_HOST, JOURNEYS_API_PORT)")
    parser.add_argument(
        "--write-key",
        help=f"default: the first of JOURNEYS_WRITE_KEYS, else the one `journeys up` made in "
        f"{DATA_DIR}/",
    )
    parser.set_defaults(action="")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1, not {text!r}")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not 0 < value <= 100_000:
        raise argparse.ArgumentTypeError("must be above 0")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.output:
        return _write(args)
    key = args.write_key or (settings.write_keys[0] if settings.write_keys else None)
    key = key or existing_dev_key("write_key")  # the one `journeys up` printed, run here
    if not key:
        print(
            "journeys simulate: give --write-key or set JOURNEYS_WRITE_KEYS (none in "
            f"{DATA_DIR}/ either: `journeys up` makes one there)",
            file=sys.stderr,
        )
        return 1
    url = args.url or f"http://{settings.api_host}:{settings.api_port}"
    try:
        return asyncio.run(_send(args, url, key))
    except ConfigError as err:
        print(f"journeys simulate: {err}", file=sys.stderr)
        return 1


def _write(args: argparse.Namespace) -> int:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=args.days)
    try:
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as err:
        print(f"journeys simulate: {args.output}: {err.strerror}", file=sys.stderr)
        return 1
    count = 0
    with out if out is not sys.stdout else contextlib.nullcontext():
        for call in simulated_calls(args.customers, start=start, days=args.days, seed=args.seed):
            out.write(json.dumps(call, separators=(",", ":")) + "\n")
            count += 1
    print(f"journeys simulate: {count} calls of {args.customers} customers", file=sys.stderr)
    return 0


async def _send(args: argparse.Namespace, url: str, key: str) -> int:
    """Calls in the log's order at `--rate`, each stamped with the time it goes; a customer's
    next call waits for its last one, so the stack sees each customer's story in order."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    now = datetime.now(UTC)
    calls = simulated_calls(args.customers, start=now, days=3650, seed=args.seed)
    outcome: Counter[str] = Counter()
    refusals: list[str] = []
    last: dict[str, asyncio.Task[None]] = {}
    gate = asyncio.Semaphore(64)
    rng = random.Random(args.seed)
    console = Console(stderr=True)
    async with httpx.AsyncClient(base_url=url, auth=(key, ""), timeout=30) as http:
        await _reachable(http, url)

        async def post(call: dict[str, Any], before: asyncio.Task[None] | None) -> None:
            if before is not None:
                await before
            async with gate:
                call = {**call, "timestamp": datetime.now(UTC).isoformat()}
                result = await _post_retrying(http, call, rng)
            outcome[result[0]] += 1
            if result[1] and len(refusals) < 5:
                refusals.append(result[1])

        began, sent = time.monotonic(), 0
        customers: set[str] = set()
        with Progress(
            TextColumn("simulate"), BarColumn(),
            TextColumn("{task.completed}/{task.total} customers"),
            TextColumn("{task.fields[calls]} calls"), TimeElapsedColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        ) as bar:  # fmt: skip
            task = bar.add_task("simulate", total=args.customers, calls=0)
            for call in calls:
                if stop.is_set():
                    break
                delay = began + sent / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                shopper = call["messageId"].rsplit("-", 1)[0]
                customers.add(shopper)
                last[shopper] = asyncio.create_task(post(call, last.get(shopper)))
                sent += 1
                bar.update(task, completed=len(customers), calls=sent)
            await asyncio.gather(*last.values())
    seconds = time.monotonic() - began
    print(
        f"journeys simulate: {len(customers)} customers, {sent} calls in {seconds:.1f} s "
        f"({sent / max(seconds, 1e-9):.1f}/s): {outcome['accepted']} accepted, "
        f"{outcome['refused']} refused, {outcome['gave up']} given up after {RETRY_FOR_S:.0f} s",
        file=sys.stderr,
    )
    for reason in refusals:
        print(f"  {reason}", file=sys.stderr)
    if stop.is_set():
        return 130
    return 0 if outcome["accepted"] == sent else 1


async def _reachable(http: httpx.AsyncClient, url: str) -> None:
    try:
        await http.get("/healthz")
    except httpx.TransportError as err:
        raise ConfigError(f"no API at {url} ({err}); start one with `journeys up`") from err


async def _post_retrying(
    http: httpx.AsyncClient, call: dict[str, Any], rng: random.Random
) -> tuple[str, str]:
    """("accepted" | "refused" | "gave up", why): the same body again after a 5xx, a 429 or a
    connection error, with jittered exponential back-off, as Segment's libraries retry."""
    path = f"/v1/{call['type']}"
    first, attempt = time.monotonic(), 0
    while True:
        attempt += 1
        try:
            response = await http.post(path, json=call)
            if response.status_code < 300:
                return "accepted", ""
            if response.status_code < 500 and response.status_code != 429:
                return "refused", f"{path} {response.status_code}: {response.text[:300]}"
        except httpx.TransportError:
            pass
        if time.monotonic() - first > RETRY_FOR_S:
            return "gave up", f"{path}: no answer after {attempt} attempts"
        cap = min(10.0, 0.25 * 2 ** min(attempt, 8))
        await asyncio.sleep(rng.uniform(cap / 2, cap))

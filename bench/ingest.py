"""Ingestion benchmark: events per second through the HTTP API, against the bare Temporal floor.

Starts, on free loopback ports and in a temporary directory, the embedded default stack —
`temporal server start-dev --db-filename` (or `--memory`), `journeys worker`, `journeys api`
with an SQLite store — plus a trivial floor worker (bench/floor.py), each as its own process
group. Then, for N track events over M customers and the same concurrency:

  floor  signal-with-start of a trivial counting workflow, one signal per event, sent straight
         from a temporalio Client: the cheapest way to get an event into a durable workflow;
  track  one Segment `/v1/track` call per event;
  batch  Segment `/v1/batch` calls of --batch-size events mixing customers (the API sends one
         signal per customer present in a batch);
  batch-grouped (not run by default)  the same with each customer's events kept together.

Modes are interleaved for --repeat rounds (floor, track, batch, floor, ...) on fresh customers;
rates are the median over rounds. Events are spread evenly over customers in a seeded shuffle.

"accepted" is events ÷ time until every call got its 200 (or signal-with-start returned);
"applied" is events ÷ time until every workflow reports the expected count through its query
(`state.events_total` for CustomerWorkflow, `count` for the floor). Ratios are ours ÷ floor.
It also reports CPU seconds per event of each process group (read from /proc), workflow-history
shape per event, per-request latency, and an in-process timing of the API's SQLite store step.

    .venv/bin/python -m bench.ingest [--events 2000 --customers 100 --concurrency 20] [--json]
    .venv/bin/python bench/ingest.py --help

Every process it starts is stopped on exit, Ctrl-C or error (process groups; the children also
die with this process on Linux).
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.common import WorkflowIDConflictPolicy  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from bench.floor import QUERY as FLOOR_QUERY  # noqa: E402
from bench.floor import SIGNAL as FLOOR_SIGNAL  # noqa: E402
from bench.stack import (  # noqa: E402
    ROOT,
    MemoryDevServer,
    Stack,
    child_env,
    cpu_snapshot,
    free_port,
    log,
    publish_shipped,
    wait_healthy,
    wait_pollers,
)
from journeys.config.logging import configure_logging  # noqa: E402
from journeys.config.temporal import DATA_CONVERTER  # noqa: E402
from journeys.devserver import DevServer, find_binary  # noqa: E402
from journeys.workflows.customer import CustomerWorkflow  # noqa: E402

try:
    from journeys.vocabulary.ids import customer_workflow_id as workflow_id
except ImportError:  # before workflows/ids.py existed
    from journeys.workflows.customer import workflow_id  # type: ignore[attr-defined,no-redef]

WRITE_KEY = "bench-write-key"
JOURNEYS_QUEUE = "journeys-bench"
FLOOR_QUEUE = "bench-floor"
RPC_TIMEOUT_S = 10.0  # as journeys/client.py
MODES = ("floor", "track", "batch", "batch-grouped")
DEFAULT_MODES = ("floor", "track", "batch")

# --------------------------------------------------------------------------------------------
# workload


@dataclass(frozen=True)
class Ev:
    k: int  # index in the stream
    customer: int  # customer index 0..M-1


def workload(n: int, m: int, seed: int) -> tuple[list[Ev], list[int]]:
    """N events spread evenly over M customers, in a shuffled (customer-mixing) order."""
    owners = [i % m for i in range(n)]
    random.Random(seed).shuffle(owners)
    expected = Counter(owners)
    return [Ev(k, c) for k, c in enumerate(owners)], [expected[c] for c in range(m)]


@dataclass
class ModeResult:
    mode: str
    events: int
    customers: int
    requests: int
    signals: int
    accepted_s: float | None = None
    applied_s: float | None = None
    retries: int = 0
    failed: str | None = None
    overshoot: int = 0  # workflows that applied more than they were sent (would be a bug)
    queries: int = 0  # issued while waiting for "applied"
    latency_ms: dict[str, float] = field(default_factory=dict)  # per request / floor signal
    took_s: list[float] = field(default_factory=list, repr=False)
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_accept_s: dict[str, float] = field(default_factory=dict)
    history: dict[str, float] = field(default_factory=dict)

    @property
    def accepted_rate(self) -> float | None:
        return self.events / self.accepted_s if self.accepted_s else None

    @property
    def applied_rate(self) -> float | None:
        return self.events / self.applied_s if self.applied_s else None


async def pump(
    units: Sequence[Any], concurrency: int, send: Callable[[Any], Awaitable[None]]
) -> list[float]:
    """Send every unit with at most `concurrency` in flight; returns each unit's seconds."""
    it = iter(units)
    took: list[float] = []

    async def lane() -> None:
        for unit in it:  # shared iterator: each unit is taken by exactly one lane
            t = time.perf_counter()
            await send(unit)
            took.append(time.perf_counter() - t)

    await asyncio.gather(*(lane() for _ in range(max(1, min(concurrency, len(units))))))
    return took


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "max": at(1.0),
        "mean": round(1000 * sum(ordered) / len(ordered), 1),
    }


async def wait_applied(
    expected: dict[str, int],
    count: Callable[[str], Awaitable[int]],
    deadline: float,
    result: ModeResult,
    lanes: int = 4,
) -> float | None:
    """monotonic time at which the last workflow was seen complete, or None at the deadline.

    A few lanes each query one workflow until it is complete, then take the next: about one
    query per workflow plus `lanes` per 0.1 s of lag, so polling barely loads what it measures.
    """
    todo = iter(expected.items())
    done_at: list[float] = []

    async def lane() -> bool:
        for wid, want in todo:
            while True:
                if time.monotonic() > deadline:
                    return False
                result.queries += 1
                try:
                    n = await count(wid)
                except RPCError:
                    n = -1  # not there yet / busy: try again
                if n >= want:
                    result.overshoot += n > want
                    done_at.append(time.monotonic())
                    break
                await asyncio.sleep(0.1)
        return True

    if not all(await asyncio.gather(*(lane() for _ in range(lanes)))):
        return None
    return max(done_at) if done_at else time.monotonic()


async def history_shape(client: Client, ids: Iterable[str]) -> dict[str, float]:
    """Totals over the workflows' histories (after the measurement, not timed)."""
    totals: Counter[str] = Counter()
    sem = asyncio.Semaphore(8)

    async def one(wid: str) -> None:
        async with sem:
            hist = await client.get_workflow_handle(wid).fetch_history()
        totals["history_events"] += len(hist.events)
        for e in hist.events:
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                totals["workflow_tasks"] += 1
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                totals["signals"] += 1
            elif e.event_type in (
                EventType.EVENT_TYPE_MARKER_RECORDED,
                EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            ):
                totals["activities"] += 1

    await asyncio.gather(*(one(w) for w in ids))
    return dict(totals)


async def measure(
    result: ModeResult,
    *,
    units: Sequence[Any],
    concurrency: int,
    send: Callable[[Any], Awaitable[None]],
    expected: dict[str, int],
    count: Callable[[str], Awaitable[int]],
    groups: dict[str, int],
    timeout: float,
) -> None:
    before = cpu_snapshot(groups)
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        took = await asyncio.wait_for(pump(units, concurrency, send), timeout)
    except Exception as err:  # noqa: BLE001  (timeout, or a call that kept failing)
        result.failed = f"sending: {type(err).__name__}: {err}"
        log(f"{result.mode}: {result.failed}")
        return
    result.accepted_s = time.monotonic() - t0
    result.latency_ms = percentiles(took)
    result.took_s = took
    mid = cpu_snapshot(groups)
    log(
        f"{result.mode}: accepted {result.events} events in {result.accepted_s:.2f}s; "
        "waiting until applied"
    )
    done = await wait_applied(expected, count, deadline, result)
    after = cpu_snapshot(groups)
    if done is None:
        result.failed = f"not all applied within --timeout {timeout:.0f}s"
        log(f"{result.mode}: {result.failed}")
    else:
        result.applied_s = done - t0
    result.cpu_s = _cpu_delta(before, after)
    result.cpu_accept_s = _cpu_delta(before, mid)


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per process group; `other` is what the rest of the machine used meanwhile (noise)."""
    delta = {k: after[k] - before[k] for k in before}
    machine = delta.pop("machine")
    delta["other"] = max(0.0, machine - sum(v for k, v in delta.items() if ":" not in k))
    for k in delta:
        if ":" in k:  # a thread that exited takes its CPU time with it (tokio blocking threads)
            delta[k] = max(0.0, delta[k])
    return {k: round(v, 3) for k, v in delta.items()}


# --------------------------------------------------------------------------------------------
# the run


def _track(user_id: str, message_id: str, event_name: str, seq: int) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user_id,
        "event": event_name,
        "messageId": message_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"seq": seq, "source": "bench"},
    }


def start_profilers(stack: Stack, out_dir: Path, tmp: Path, gil: bool) -> None:
    """py-spy on each Python process we run: every thread it deems active (here that includes
    threads waiting for the GIL or an SQLite lock: read it as thread time, not CPU), or with
    `gil` only the thread holding the GIL, i.e. where the interpreter's Python CPU goes."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, pgid in stack.groups().items():
        if name == "temporal":
            continue  # Go: see its CPU in the table
        stack.spawn(
            f"py-spy-{name}",
            [
                py_spy,
                "record",
                "--pid",
                str(pgid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--threads",
                *(["--gil"] if gil else []),
                "--output",
                str(out_dir.resolve() / f"{name}.txt"),
            ],
            env=dict(os.environ),
            log_file=tmp / f"py-spy-{name}.log",
            cwd=tmp,
            stop_signal=signal.SIGINT,
        )
    time.sleep(1.0)  # attach before the first mode


def store_micro(tmp: Path, n: int, batch_size: int, event_name: str) -> dict[str, float]:
    """The API's store step alone (api/ingest.py `_store` + `_settle`, the two SQLite
    transactions of every call), sequential, in this process, on a fresh SQLite file."""
    from journeys.api.ingest import _settle, _store
    from journeys.api.schemas import SegmentCall

    url = f"sqlite:///{tmp / 'store-micro.db'}"
    run = uuid.uuid4().hex[:6]
    calls = [
        SegmentCall.model_validate(_track(f"u{i % 100}", f"{run}-{i}", event_name, i))
        for i in range(n)
    ]
    _settle(url, [], [])  # create the engine and tables outside the timing
    out: dict[str, float] = {}
    for label, size in (("single", 1), ("batch", batch_size)):
        chunks = (
            [calls[i : i + size] for i in range(0, n // 2, size)]
            if label == "single"
            else [calls[i : i + size] for i in range(n // 2, n, size)]
        )
        t_store = t_settle = 0.0
        events = 0
        for chunk in chunks:
            t = time.perf_counter()
            rows, _ = _store(chunk, url, datetime.now(UTC))  # ((undelivered, inserted, ...), _)
            undelivered = rows[0]
            t_store += time.perf_counter() - t
            t = time.perf_counter()
            _settle(url, undelivered, [])
            t_settle += time.perf_counter() - t
            events += len(chunk)
        out[f"{label}_calls"] = len(chunks)
        out[f"{label}_store_ms_per_call"] = round(1000 * t_store / len(chunks), 3)
        out[f"{label}_settle_ms_per_call"] = round(1000 * t_settle / len(chunks), 3)
        out[f"{label}_sqlite_ms_per_event"] = round(1000 * (t_store + t_settle) / events, 3)
    return out


async def run(args: argparse.Namespace, stack: Stack, tmp: Path) -> dict[str, Any]:
    temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
    server_cls = MemoryDevServer if args.memory else DevServer
    stack.server = server_cls(tmp / "temporal.db", temporal_port, ui_port)
    log(
        f"starting temporal dev server ({'memory' if args.memory else 'sqlite file'}) "
        f"on :{temporal_port}"
    )
    await stack.server.start(log_file=tmp / "temporal.log")
    address = stack.server.address

    env = child_env(
        {
            "JOURNEYS_TEMPORAL_ADDRESS": address,
            "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp / 'journeys.db'}",
            "JOURNEYS_WRITE_KEYS": WRITE_KEY,
            "JOURNEYS_TASK_QUEUE": JOURNEYS_QUEUE,
            "JOURNEYS_API_HOST": "127.0.0.1",
            "JOURNEYS_LOG_LEVEL": args.log_level,
            "JOURNEYS_LOG_FORMAT": "json",
        }
    )
    journeys = find_binary("journeys")
    worker = stack.spawn(
        "worker",
        [journeys, "worker", "--address", address],
        env=env,
        log_file=tmp / "journeys.worker.log",
        cwd=tmp,
    )
    api = stack.spawn(
        "api",
        [journeys, "api", "--address", address, "--port", str(api_port)],
        env=env,
        log_file=tmp / "journeys.api.log",
        cwd=tmp,
    )
    floor_worker = stack.spawn(
        "floor-worker",
        [sys.executable, "-m", "bench.floor", "--address", address, "--task-queue", FLOOR_QUEUE],
        env=env,
        log_file=tmp / "floor-worker.log",
        cwd=tmp,
    )
    api_url = f"http://127.0.0.1:{api_port}"
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    await wait_healthy(f"{api_url}/healthz", api)
    await wait_pollers(client, JOURNEYS_QUEUE, worker)
    await wait_pollers(client, FLOOR_QUEUE, floor_worker)
    if args.segments:
        await publish_shipped(env, tmp, journeys=False)
    groups = stack.groups()
    log(f"stack up in {tmp}: " + ", ".join(f"{k} pid {v}" for k, v in groups.items()))

    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    http = httpx.AsyncClient(
        base_url=api_url,
        headers={"Authorization": auth},
        limits=limits,
        timeout=httpx.Timeout(30.0),
    )
    run_id = uuid.uuid4().hex[:6]
    events, per_customer = workload(args.events, args.customers, args.seed)
    results: dict[str, list[ModeResult]] = {}

    async def post(result: ModeResult, path: str, body: dict[str, Any]) -> None:
        for attempt in range(5):
            try:
                response = await http.post(path, json=body)
                if response.status_code == 200:
                    return
                problem = f"HTTP {response.status_code} {response.text[:200]}"
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
            if attempt == 4:
                raise RuntimeError(f"{path} failed 5 times: {problem}")
            result.retries += 1
            await asyncio.sleep(0.5 * (attempt + 1))

    async def signal_floor(wid: str, message_id: str) -> None:
        await client.start_workflow(
            "BenchFloor",
            id=wid,
            task_queue=FLOOR_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=FLOOR_SIGNAL,
            start_signal_args=[message_id],
            rpc_timeout=timedelta(seconds=RPC_TIMEOUT_S),
        )

    async def floor_count(wid: str) -> int:
        return await client.get_workflow_handle(wid).query(FLOOR_QUERY, result_type=int)

    async def customer_count(wid: str) -> int:
        state = await client.get_workflow_handle(wid).query(CustomerWorkflow.get_state)
        return state.events_total

    # warm-up: first connections, SQLite engine, the workflow modules' first sandbox import
    log("warm-up")
    warm_user = f"warm-{run_id}"
    warm = ModeResult("warm-up", 3, 1, 3, 3)
    await post(warm, "/v1/track", _track(warm_user, f"{run_id}-w0", args.event_name, 0))
    await post(
        warm,
        "/v1/batch",
        {"batch": [_track(warm_user, f"{run_id}-w{i}", args.event_name, i) for i in (1, 2)]},
    )
    for i in range(3):
        await signal_floor(f"floor-warm-{run_id}", f"{run_id}-fw{i}")
    if (
        await wait_applied({workflow_id(warm_user): 3}, customer_count, time.monotonic() + 60, warm)
        is None
        or await wait_applied({f"floor-warm-{run_id}": 3}, floor_count, time.monotonic() + 60, warm)
        is None
    ):
        raise RuntimeError("warm-up events were not applied within 60s")

    if args.profile:
        start_profilers(stack, args.profile, tmp, gil=args.profile_gil)

    for rnd, mode in ((r, m) for r in range(args.repeat) for m in args.modes):
        tag = f"{run_id}{rnd}"
        if args.pause:
            await asyncio.sleep(args.pause)  # let the previous mode's tail (timers, GC) settle
        log(
            f"{mode} (round {rnd + 1}/{args.repeat}): {args.events} events, "
            f"{args.customers} customers, concurrency {args.concurrency}"
        )
        if mode == "floor":
            ids = [f"floor-{tag}-{c:04d}" for c in range(args.customers)]
            result = ModeResult(mode, args.events, args.customers, args.events, args.events)

            async def send_floor(ev: Ev, ids: list[str] = ids, tag: str = tag) -> None:
                await signal_floor(ids[ev.customer], f"{tag}-floor-{ev.k}")

            units: Sequence[Any] = events
            send: Callable[[Any], Awaitable[None]] = send_floor
            count = floor_count
        elif mode == "track":
            users = [f"b{tag}-track-{c:04d}" for c in range(args.customers)]
            ids = [workflow_id(u) for u in users]
            result = ModeResult(mode, args.events, args.customers, args.events, args.events)

            async def send_track(
                ev: Ev, users: list[str] = users, result: ModeResult = result, tag: str = tag
            ) -> None:
                await post(
                    result,
                    "/v1/track",
                    _track(users[ev.customer], f"{tag}-track-{ev.k}", args.event_name, ev.k),
                )

            units, send, count = events, send_track, customer_count
        else:
            users = [f"b{tag}-{mode}-{c:04d}" for c in range(args.customers)]
            ids = [workflow_id(u) for u in users]
            # batch: the shuffled stream, so a batch mixes customers (a server-side source);
            # batch-grouped: each customer's events together (a client library's own batches)
            stream = (
                sorted(events, key=lambda ev: ev.customer) if mode == "batch-grouped" else events
            )
            chunks = [
                stream[i : i + args.batch_size] for i in range(0, len(stream), args.batch_size)
            ]
            signals = sum(len({ev.customer for ev in chunk}) for chunk in chunks)
            result = ModeResult(mode, args.events, args.customers, len(chunks), signals)

            async def send_batch(
                chunk: list[Ev],
                users: list[str] = users,
                result: ModeResult = result,
                tag: str = tag,
                mode: str = mode,
            ) -> None:
                body = {
                    "batch": [
                        _track(users[ev.customer], f"{tag}-{mode}-{ev.k}", args.event_name, ev.k)
                        for ev in chunk
                    ]
                }
                await post(result, "/v1/batch", body)

            units, send, count = chunks, send_batch, customer_count
        await measure(
            result,
            units=units,
            concurrency=args.concurrency,
            send=send,
            expected=dict(zip(ids, per_customer, strict=True)),
            count=count,
            groups=groups,
            timeout=args.timeout,
        )
        if result.applied_s is not None:
            with contextlib.suppress(Exception):
                result.history = await history_shape(client, ids)
        results.setdefault(mode, []).append(result)
        log(
            f"{mode}: accepted {fmt(result.accepted_rate)} ev/s, "
            f"applied {fmt(result.applied_rate)} ev/s"
        )
    await http.aclose()

    micro: dict[str, Any] | None = None
    if not args.no_store_micro:
        log("store step alone (SQLite, in-process)")
        try:
            micro = await asyncio.to_thread(
                store_micro, tmp, min(args.events, 2000), args.batch_size, args.event_name
            )
        except Exception as err:  # noqa: BLE001  (private functions of api/ingest.py moved)
            micro = {"error": f"{type(err).__name__}: {err}"}
    return report(args, results, micro, address)


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def report(
    args: argparse.Namespace,
    results: dict[str, list[ModeResult]],
    micro: dict[str, Any] | None,
    address: str,
) -> dict[str, Any]:
    """Per mode: the median over rounds of each rate; CPU and history summed over rounds."""
    version = subprocess.run(
        [find_binary("temporal"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    modes: dict[str, dict[str, Any]] = {}
    for name, rounds in results.items():
        events = sum(r.events for r in rounds)
        cpu: Counter[str] = Counter()
        history: Counter[str] = Counter()
        for r in rounds:
            cpu.update(r.cpu_s)
            history.update(r.history)
        entry: dict[str, Any] = {
            "rounds": len(rounds),
            "events": rounds[0].events,
            "customers": rounds[0].customers,
            "requests": rounds[0].requests,
            "signals": rounds[0].signals,
            "failed": [r.failed for r in rounds if r.failed],
            "retries": sum(r.retries for r in rounds),
            "overshoot": sum(r.overshoot for r in rounds),
            "queries": sum(r.queries for r in rounds),
            "latency_ms": percentiles([t for r in rounds for t in r.took_s]),
            "cpu_ms_per_event": {k: round(1000 * v / events, 3) for k, v in cpu.items()},
            "history_per_event": {k: round(v / events, 3) for k, v in history.items()},
            "applied_s": sum(r.applied_s or 0 for r in rounds) or None,
            "accepted_s": sum(r.accepted_s or 0 for r in rounds) or None,
            "per_round": [
                {k: v for k, v in asdict(r).items() if k != "took_s"}
                | {"accepted_ev_per_s": r.accepted_rate, "applied_ev_per_s": r.applied_rate}
                for r in rounds
            ],
        }
        for kind in ("accepted", "applied"):
            rates = [x for r in rounds if (x := getattr(r, f"{kind}_rate"))]
            entry[f"{kind}_ev_per_s"] = rates and round(_median(rates), 2)  # type: ignore[arg-type]
            entry[f"{kind}_ev_per_s_range"] = (
                [round(min(rates), 2), round(max(rates), 2)] if rates else None
            )
        entry["events_total"] = events
        modes[name] = entry
    floor = modes.get("floor")
    for entry in modes.values():
        for kind in ("accepted", "applied"):
            ours = entry[f"{kind}_ev_per_s"]
            base = floor[f"{kind}_ev_per_s"] if floor else None
            entry[f"{kind}_ratio_to_floor"] = round(ours / base, 3) if ours and base else None
    return {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.ingest", *sys.argv[1:]]),
        "config": {
            "events": args.events,
            "customers": args.customers,
            "concurrency": args.concurrency,
            "batch_size": args.batch_size,
            "event_name": args.event_name,
            "seed": args.seed,
            "segments": args.segments,
            "repeat": args.repeat,
            "temporal_store": "memory" if args.memory else "sqlite file",
            "log_level": args.log_level,
        },
        "git": _git_state(),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "temporal": version,
            "platform": platform.platform(),
        },
        "modes": modes,
        "store_step": micro,
    }


def _git_state() -> dict[str, Any]:
    """The commit measured, and product files changed from it (bench/ itself not counted)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip("\n")  # not strip(): porcelain lines start with a space

    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if not line[3:].startswith("bench/")
    ]
    return {"commit": git("rev-parse", "--short", "HEAD"), "modified": changed}


def print_table(rep: dict[str, Any]) -> None:
    c = rep["config"]
    print(
        f"\n{c['events']} track events, {c['customers']} customers, "
        f"concurrency {c['concurrency']}, "
        f"batch size {c['batch_size']}, Temporal dev server ({c['temporal_store']}), "
        f"{rep['host']['cpus']} CPUs, commit {rep['git']['commit']}"
        f"{' + modified ' + ', '.join(rep['git']['modified']) if rep['git']['modified'] else ''}\n"
    )
    head = (
        "mode",
        "requests",
        "signals",
        "accepted ev/s",
        "applied ev/s",
        "accepted ÷ floor",
        "applied ÷ floor",
    )

    def rate(m: dict[str, Any], kind: str) -> str:
        span = m[f"{kind}_ev_per_s_range"]
        if m["rounds"] < 2 or not span:
            return fmt(m[f"{kind}_ev_per_s"])
        return f"{fmt(m[f'{kind}_ev_per_s'])} ({span[0]:.0f}–{span[1]:.0f})"

    rows = []
    for name, m in rep["modes"].items():
        rows.append(
            (
                name,
                str(m["requests"]),
                str(m["signals"]),
                rate(m, "accepted"),
                rate(m, "applied"),
                fmt(m["accepted_ratio_to_floor"], 2),
                fmt(m["applied_ratio_to_floor"], 2),
            )
        )
    if c["repeat"] > 1:
        print(f"Rates: median of {c['repeat']} interleaved rounds (min–max); per request or batch:")
    _table(head, rows)
    groups = ("api", "worker", "temporal", "floor-worker", "client")
    print(
        "\nCPU ms per event, send to applied (/proc; client = this process; other = the rest of "
        "the machine meanwhile, not ours; cores = ours ÷ wall time):\n"
    )
    rows = []
    for name, m in rep["modes"].items():
        cpu = m["cpu_ms_per_event"]
        ours = sum(cpu.get(g, 0.0) for g in groups)
        seconds = m["applied_s"] or m["accepted_s"]
        cores = ours * m["events_total"] / 1000 / seconds if seconds else None
        rows.append(
            (
                name,
                *(fmt(cpu.get(g), 2) for g in groups),
                fmt(ours, 2),
                fmt(cores, 2),
                fmt(cpu.get("other"), 2),
            )
        )
    _table(("mode", *groups, "ours", "cores", "other"), rows)
    print(
        "\nAPI and worker CPU ms per event by thread (main = asyncio loop; threads = other Python "
        "threads: the API's to_thread SQLite calls, the worker's workflow/activity threads; "
        "core = Temporal SDK core, Rust):\n"
    )
    parts = [f"{p}:{k}" for p in ("api", "worker") for k in ("main", "threads", "core")]
    _table(
        ("mode", *parts),
        [
            (name, *(fmt(m["cpu_ms_per_event"].get(k), 2) for k in parts))
            for name, m in rep["modes"].items()
        ],
    )
    print("\nLatency per request (floor: per signal-with-start), ms; queries to see 'applied':\n")
    lat = ("p50", "p90", "p99", "max")
    _table(
        ("mode", *lat, "queries"),
        [
            (name, *(fmt(m["latency_ms"].get(k)) for k in lat), str(m["queries"]))
            for name, m in rep["modes"].items()
        ],
    )
    keys = ("history_events", "workflow_tasks", "signals", "activities")
    print("\nWorkflow history per event:\n")
    _table(
        ("mode", *keys),
        [
            (name, *(fmt(m["history_per_event"].get(k), 2) for k in keys))
            for name, m in rep["modes"].items()
        ],
    )
    for name, m in rep["modes"].items():
        if m["failed"] or m["retries"] or m["overshoot"]:
            print(
                f"\n{name}: failed={m['failed']} retries={m['retries']} overshoot={m['overshoot']}"
            )
    if rep["store_step"] and "error" in rep["store_step"]:
        print(f"\nAPI store step alone: not measured ({rep['store_step']['error']})")
    elif rep["store_step"]:
        s = rep["store_step"]
        print(
            "\nAPI store step alone (SQLite, sequential): "
            f"single call {s['single_store_ms_per_call']} + {s['single_settle_ms_per_call']} ms "
            f"(store + settle) = {s['single_sqlite_ms_per_event']} ms/event; "
            f"batch of {c['batch_size']} {s['batch_store_ms_per_call']} + "
            f"{s['batch_settle_ms_per_call']} ms "
            f"= {s['batch_sqlite_ms_per_event']} ms/event"
        )
    print()


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(
            "| "
            + " | ".join(
                v.rjust(w) if i else v.ljust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
            + " |"
        )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=2000, help="track events per mode (default 2000)")
    p.add_argument("--customers", type=int, default=100, help="customers per mode (default 100)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=20,
        help="requests (or floor signals) in flight (default 20)",
    )
    p.add_argument(
        "--batch-size", type=int, default=100, help="events per /v1/batch call (default 100)"
    )
    p.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help=f"comma-separated, run in this order, from {', '.join(MODES)} "
        f"(default {','.join(DEFAULT_MODES)})",
    )
    p.add_argument(
        "--memory", action="store_true", help="Temporal dev server in memory, not an SQLite file"
    )
    p.add_argument(
        "--event-name",
        default="Product Viewed",
        help="track event name (default 'Product Viewed': one stage change per customer)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds per mode, send to applied (default 300)",
    )
    p.add_argument(
        "--pause", type=float, default=2.0, help="idle seconds before each mode (default 2)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--segments",
        action="store_true",
        help="publish the shipped segments first, as `journeys up` does: each customer's "
        "workflow then evaluates them after the events that can change one",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of all modes, interleaved (floor, track, batch, floor, ...); rates are the "
        "median over rounds (default 3)",
    )
    p.add_argument(
        "--log-level", default="INFO", help="JOURNEYS_LOG_LEVEL of worker and API (default INFO)"
    )
    p.add_argument(
        "--no-store-micro", action="store_true", help="skip the in-process SQLite store timing"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    p.add_argument("--json-file", type=Path, metavar="FILE", help="also write the JSON report here")
    p.add_argument("--profile-gil", action="store_true", help="with --profile: py-spy --gil")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample api, worker and floor-worker with py-spy during the modes (collapsed stacks "
        "in DIR/*.txt; perturbs the figures: use for where-the-time-goes, not for rates)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, databases)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging("WARNING")  # in-process store work logs to stderr: --json owns stdout
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(args.modes) - set(MODES)
    if unknown or not args.modes:
        _parser().error(f"--modes: choose from {', '.join(MODES)}")
    if args.events < args.customers or args.customers < 1:
        _parser().error("need --events ≥ --customers ≥ 1")

    def _terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    tmp = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    stack = Stack()
    code = 0
    try:
        rep = asyncio.run(run(args, stack, tmp))
        if args.json_file:
            args.json_file.write_text(json.dumps(rep, indent=2) + "\n")
        if args.json:
            print(json.dumps(rep, indent=2))
        else:
            print_table(rep)
        if any(m["failed"] for m in rep["modes"].values()):
            code = 1
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    except Exception as err:  # noqa: BLE001
        log(f"failed: {type(err).__name__}: {err} (logs in {tmp})")
        args.keep = True
        code = 1
    finally:
        log("stopping every process started")
        stack.stop_all()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

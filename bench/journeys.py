"""The whole pipeline: customers through the shipped journeys, events in, messages out, against
the floor — the cheapest way Temporal can do the same sends here.

Starts, on free loopback ports in a temporary directory, each in its own process group: the
Temporal dev server on a SQLite file, `journeys worker`, `journeys api` (store: SQLite, or
`--database-url`), and the floor's worker (bench/floor.py); in this process, a real SMTP receiver
(aiosmtpd) and a real HTTP receiver for SMS, push and webhooks. Each customer sends, one call
after another, what a first visit that ends in an order sends:

    identify (email trait) · page · Product Viewed · Checkout Started · Order Completed

and the shipped journeys owe it two emails: `welcome` (page) sends `welcome_email`,
`post_purchase` (Order Completed) sends `order_thanks`. Quiet hours are off.

Phases, each on fresh customers:
  floor     per customer one signal-with-start of a bare workflow that sends the same two
            emails, one activity each, to the same SMTP receiver; as fast as it goes;
  floor-events  the same bare workflow, but signalled once per incoming event (five
            signal-with-starts a customer, one after another, as the API signals a customer),
            each email sent after the event that owes it: the floor for a design that receives
            every event, reported beside the first;
  capacity  N customers through the product, --concurrency at once, as fast as it goes;
  steady    customers started at a steady rate — half the capacity phase's served rate unless
            --rate — for --steady-seconds, while an operator's `state` query samples customers.

Reported: accepted events/s; customers fully served/s (every owed email received); event →
action latency (the triggering call's 200 → the email at the receiver) p50/p95/p99; history
events per incoming event by workflow type; workflow-task schedule-to-start p99; CPU ms per
customer of server, worker and API; peak memory of worker and server; the floor's figures and
our ratio to them; state queries failed or slower than 2 s.

    .venv/bin/python -m bench.journeys [--customers 200] [--json] [--database-url URL]
"""

import argparse
import asyncio
import base64
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/journeys.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.floor import SEND_SIGNAL, Send, SendFloorInput  # noqa: E402
from bench.stack import (  # noqa: E402
    Stack,
    child_env,
    cpu_snapshot,
    free_port,
    group_peak_rss_mb,
    log,
    machine,
    percentiles,
    post_until_ok,
    product_settings,
    publish_shipped,
    wait_healthy,
    wait_pollers,
)
from journeys.config.temporal import DATA_CONVERTER  # noqa: E402
from journeys.devserver import DevServer, find_binary  # noqa: E402
from journeys.vocabulary.ids import customer_workflow_id  # noqa: E402

WRITE_KEY = "bench-write-key"
QUEUE = "journeys-bench"
FLOOR_QUEUE = "bench-floor"
FLOORS = ("floor", "floor-events")
QUERY_BUDGET_S = 2.0  # an operator's state query must answer within this (docs/architecture)


@dataclass(frozen=True)
class Owed:
    """A message the shipped journeys owe each customer of this scenario."""

    template: str
    trigger: str  # the call whose 200 starts the clock
    subject: str  # how the receiver tells it apart (the template's subject starts so)


OWED = (
    Owed("welcome_email", trigger="page", subject="Welcome"),
    Owed("order_thanks", trigger="Order Completed", subject="Thank you for your order"),
)


# --------------------------------------------------------------------------------------------
# receivers


@dataclass
class Received:
    at: float  # time.time(): comparable with the sender's clock, same machine
    to: str
    subject: str
    message_id: str = ""


class SmtpReceiver:
    """aiosmtpd on a loopback port; records who got which subject, and when."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        at = time.time()
        message = message_from_bytes(envelope.original_content or b"")
        with self.lock:
            for to in envelope.rcpt_tos:
                self.messages.append(
                    Received(
                        at,
                        to.lower(),
                        str(message["Subject"] or ""),
                        str(message["Message-ID"] or ""),
                    )  # fmt: skip
                )
        return "250 Message accepted"

    def __enter__(self) -> "SmtpReceiver":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class HttpReceiver:
    """SMS, push and webhook providers: one loopback server recording each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, str]] = []  # at, path, Idempotency-Key
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    (time.time(), self.path, self.headers.get("Idempotency-Key", ""))
                )
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HttpReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


# --------------------------------------------------------------------------------------------
# measurement


@dataclass
class Phase:
    name: str
    customers: int
    events: int = 0
    started: float = 0.0
    accepted_at: float = 0.0  # the last call's 200
    served_at: float = 0.0  # the last owed message received
    served: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # group -> CPU seconds in the phase
    history: dict[str, int] = field(default_factory=dict)  # workflow kind -> history events
    wft_start_s: list[float] = field(default_factory=list)
    sampled: dict[str, int] = field(default_factory=dict)  # workflow kind -> runs read in full
    event_types: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> type -> n
    queries: list[float] = field(default_factory=list)  # seconds; inf: failed
    query_errors: Counter[str] = field(default_factory=Counter)  # why the failed ones failed
    offered_rate: float | None = None
    timed_out: bool = False

    def figures(self) -> dict[str, Any]:
        span = max(self.served_at - self.started, 1e-9)
        accept = max(self.accepted_at - self.started, 1e-9)
        per = max(self.customers, 1)
        history_total = sum(self.history.values())
        failed = [q for q in self.queries if q == float("inf") or q > QUERY_BUDGET_S]
        return {
            "customers": self.customers,
            "events": self.events,
            "offered_customers_per_s": self.offered_rate,
            "accepted_events_per_s": self.events / accept if self.events else None,
            "served_customers": self.served,
            "served_customers_per_s": self.served / span,
            "latency_s": percentiles(self.latencies),
            "history_per_event": {
                kind: n / max(self.events, 1) for kind, n in sorted(self.history.items())
            }
            | {"total": history_total / max(self.events, 1)},
            "history_per_customer": history_total / per,
            "workflow_task_schedule_to_start_s": percentiles(self.wft_start_s),
            # where the server's work goes: each workflow task, activity task and timer is a
            # round trip and several writes; a local activity is one marker in a task
            "history_events_per_run_by_type": {
                kind: {
                    name: n / self.sampled[kind]
                    for name, n in sorted(types.items(), key=lambda kv: -kv[1])
                }
                for kind, types in sorted(self.event_types.items())
            },
            "cpu_ms_per_customer": {k: 1000 * v / per for k, v in sorted(self.cpu.items())},
            "state_queries": {
                "sent": len(self.queries),
                "failed_or_over_2s": len(failed),
                "worst_s": max(self.queries) if self.queries else None,
                "errors": dict(self.query_errors),
            },
            "timed_out": self.timed_out,
        }


def customer_calls(user: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(call name, path, body): a first visit that ends in an order."""
    order = f"o-{user}"
    product = {"product_id": "p-1", "name": "Mug", "price": 12.0, "quantity": 2}
    return [
        ("identify", "/v1/identify", {"traits": {"email": f"{user}@bench.test"}}),
        ("page", "/v1/page", {"name": "Home"}),
        ("Product Viewed", "/v1/track", {"event": "Product Viewed", "properties": product}),
        ("Checkout Started", "/v1/track", {"event": "Checkout Started",
                                           "properties": {"cart_id": f"c-{user}",
                                                          "products": [product]}}),
        ("Order Completed", "/v1/track", {"event": "Order Completed",
                                          "properties": {"order_id": order, "total": 24.0,
                                                         "products": [product]}}),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# the run


class Bench:
    def __init__(self, args: argparse.Namespace, stack: Stack, tmp: Path) -> None:
        self.args, self.stack, self.tmp = args, stack, tmp
        self.run_id = uuid.uuid4().hex[:6]
        self.smtp = SmtpReceiver()
        self.providers = HttpReceiver()
        self.client: Client
        self.http: httpx.AsyncClient

    async def start(self) -> None:
        temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
        self.stack.server = DevServer(self.tmp / "temporal.db", temporal_port, ui_port)
        log(f"starting the temporal dev server (sqlite file) on :{temporal_port}")
        await self.stack.server.start(log_file=self.tmp / "temporal.log")
        address = self.stack.server.address
        database = self.args.database_url or f"sqlite:///{self.tmp / 'journeys.db'}"
        env = child_env(
            {
                **product_settings(
                    address=address,
                    database_url=database,
                    write_key=WRITE_KEY,
                    task_queue=QUEUE,
                    smtp_port=self.smtp.port,
                    providers_url=self.providers.url,
                ),  # fmt: skip
                "BENCH_SMTP_HOST": "127.0.0.1",
                "BENCH_SMTP_PORT": str(self.smtp.port),
                **dict(item.split("=", 1) for item in self.args.setting),
            }
        )
        journeys = find_binary("journeys")
        # the shipped segments, then journeys (which may name them), as `journeys up` does
        await publish_shipped(env, self.tmp)
        worker = self.stack.spawn(
            "worker", [journeys, "worker"], env=env, log_file=self.tmp / "worker.log", cwd=self.tmp
        )
        api = self.stack.spawn(
            "api",
            [journeys, "api", "--port", str(api_port)],
            env=env,
            log_file=self.tmp / "api.log",
            cwd=self.tmp,
        )
        floor = self.stack.spawn(
            "floor-worker",
            [sys.executable, "-m", "bench.floor", "--address", address, "--task-queue",
             FLOOR_QUEUE],
            env=env, log_file=self.tmp / "floor-worker.log", cwd=self.tmp,
        )  # fmt: skip
        self.client = await Client.connect(address, data_converter=DATA_CONVERTER)
        api_url = f"http://127.0.0.1:{api_port}"
        await wait_healthy(f"{api_url}/healthz", api)
        await wait_pollers(self.client, QUEUE, worker)
        await wait_pollers(self.client, FLOOR_QUEUE, floor)
        auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        limit = self.args.concurrency
        self.http = httpx.AsyncClient(
            base_url=api_url,
            headers={"Authorization": auth},
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            timeout=httpx.Timeout(30.0),
        )
        log(
            f"stack up in {self.tmp}: "
            + ", ".join(f"{k} {v}" for k, v in self.stack.groups().items())
        )

    # ---- sending

    async def _customer(self, user: str, accepted: dict[str, dict[str, float]]) -> None:
        times: dict[str, float] = {}
        for seq, (name, path, body) in enumerate(customer_calls(user)):
            call = {"userId": user, "messageId": f"{user}-{seq}", **body}
            times[name] = await post_until_ok(self.http, path, call)
            self._started.add(user)  # its workflow exists once the first call is accepted
        accepted[user] = times

    async def _floor_customer(
        self, user: str, accepted: dict[str, dict[str, float]], per_event: bool
    ) -> None:
        """The floor: one signal-with-start per customer; `per_event`, one per incoming event,
        each send after the event that owes it (what the API and the journeys do at least)."""
        names = [name for name, _, _ in customer_calls(user)] if per_event else ["all"]
        after = {owed.trigger: names.index(owed.trigger) if per_event else 0 for owed in OWED}
        sends = [Send(f"{user}@bench.test", owed.subject, after[owed.trigger]) for owed in OWED]
        times: dict[str, float] = {}
        for name in names:
            await self.client.start_workflow(
                "BenchSendFloor",
                SendFloorInput(sends=sends, signals=len(names)),
                id=f"floor-{user}",
                task_queue=FLOOR_QUEUE,
                start_signal=SEND_SIGNAL,
            )
            times[name] = time.time()
        accepted[user] = {o.trigger: times[o.trigger if per_event else "all"] for o in OWED}

    async def _drive(
        self,
        phase: Phase,
        start_one: Callable[[str], Awaitable[None]],
        rate: float | None,
        users: list[str],
    ) -> None:
        """Start customers: `--concurrency` at a time as fast as they go, or `rate` per second."""
        gate = asyncio.Semaphore(self.args.concurrency)

        async def one(user: str) -> None:
            async with gate:
                await start_one(user)

        tasks = []
        for i, user in enumerate(users):
            if rate:
                await asyncio.sleep(max(0.0, phase.started + i / rate - time.time()))
            tasks.append(asyncio.create_task(one(user)))
        await asyncio.gather(*tasks)

    async def _wait_served(
        self, phase: Phase, users: list[str], accepted: dict[str, dict[str, float]]
    ) -> None:
        owed = {f"{u}@bench.test".lower(): u for u in users}
        deadline = time.monotonic() + self.args.timeout
        while True:
            got: dict[str, list[Received]] = defaultdict(list)
            with self.smtp.lock:
                for message in self.smtp.messages:
                    if message.to in owed:
                        got[owed[message.to]].append(message)
            if sum(len(m) for m in got.values()) >= len(OWED) * len(users):
                break
            if time.monotonic() > deadline:
                phase.timed_out = True
                log(f"{phase.name}: timed out waiting for messages")
                break
            await asyncio.sleep(0.2)
        for user, messages in got.items():
            first: dict[str, Received] = {}
            for owed_message in OWED:
                match = [m for m in messages if m.subject.startswith(owed_message.subject)]
                if match:
                    first[owed_message.template] = min(match, key=lambda m: m.at)
                    trigger = accepted.get(user, {}).get(owed_message.trigger)
                    if trigger is not None:
                        phase.latencies.append(first[owed_message.template].at - trigger)
            if len(first) == len(OWED):
                phase.served += 1
                phase.served_at = max(phase.served_at, max(m.at for m in first.values()))
            extra = len(messages) - len(first)
            if extra > 0:
                log(f"WARNING: {user} got {extra} duplicate message(s)")

    async def _sample_queries(self, phase: Phase, users: list[str], stop: asyncio.Event) -> None:
        """An operator's `state` query on a random started customer (one whose first call
        was accepted: a query before it would find no workflow), every 0.25 s."""
        rng = random.Random(7)
        while not stop.is_set():
            await asyncio.sleep(0.25)
            started = [u for u in users if u in self._started]
            if not started:
                continue
            handle = self.client.get_workflow_handle(customer_workflow_id(rng.choice(started)))
            begin = time.monotonic()
            try:
                await handle.query("state", rpc_timeout=timedelta(seconds=QUERY_BUDGET_S * 2))
                phase.queries.append(time.monotonic() - begin)
            except Exception as err:  # noqa: BLE001  (any failure counts as a failed query)
                phase.queries.append(float("inf"))
                phase.query_errors[f"{type(err).__name__}: {str(err)[:80]}"] += 1

    async def run_phase(self, name: str, customers: int, rate: float | None) -> Phase:
        phase = Phase(name=name, customers=customers, offered_rate=rate)
        users = [f"{name}-{self.run_id}-{i}" for i in range(customers)]
        accepted: dict[str, dict[str, float]] = {}
        self._started: set[str] = set()
        floor, per_event = name in FLOORS, name != "floor"
        # the plain floor's one incoming event per customer is its signal-with-start
        phase.events = customers * (len(customer_calls("x")) if per_event else 1)

        async def start_one(user: str) -> None:
            if floor:
                await self._floor_customer(user, accepted, per_event=per_event)
            else:
                await self._customer(user, accepted)

        log(f"{name}: {customers} customers" + (f" at {rate:.2f}/s" if rate else ", flat out"))
        before = cpu_snapshot(self.stack.groups())
        phase.started = time.time()
        stop = asyncio.Event()
        sampler = (
            asyncio.create_task(self._sample_queries(phase, users, stop)) if not floor else None
        )
        await self._drive(phase, start_one, rate, users)
        phase.accepted_at = time.time()
        await self._wait_served(phase, users, accepted)
        stop.set()
        if sampler:
            await sampler
        after = cpu_snapshot(self.stack.groups())
        phase.cpu = {
            group: after[group] - before[group]
            for group in ("temporal", "worker", "api", "floor-worker")
            if group in after and group in before
        }
        await self._history(phase, users)
        figures = phase.figures()
        log(
            f"{name}: served {phase.served}/{customers} at "
            f"{figures['served_customers_per_s']:.2f}/s, latency p99 "
            f"{figures['latency_s']['p99']}"
        )
        return phase

    async def _history(self, phase: Phase, users: list[str]) -> None:
        """History events of the phase's workflows by kind, and workflow-task waits."""
        wanted = set(users)
        sample: list[tuple[str, str]] = []
        async for execution in self.client.list_workflows(page_size=1000):
            kind, user = _kind_and_user(execution.id, wanted)
            if user is not None:
                sample.append((execution.id, execution.run_id or ""))
        gate = asyncio.Semaphore(20)

        async def length(workflow_id: str, run_id: str) -> None:
            # visibility gives a history length only once a run closes: describe each one
            async with gate:
                handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
                info = (await handle.describe()).raw_description.workflow_execution_info
            kind, _ = _kind_and_user(workflow_id, wanted)
            phase.history[kind] = phase.history.get(kind, 0) + info.history_length

        await asyncio.gather(*(length(w, r) for w, r in sample))
        random.Random(11).shuffle(sample)
        for workflow_id, run_id in sample[: self.args.history_sample]:
            handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
            scheduled: float | None = None
            kind, _ = _kind_and_user(workflow_id, wanted)
            phase.sampled[kind] = phase.sampled.get(kind, 0) + 1
            types = phase.event_types.setdefault(kind, {})
            async for event in handle.fetch_history_events():
                name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
                types[name] = types.get(name, 0) + 1
                at = event.event_time.ToDatetime().timestamp()
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                    scheduled = at
                elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled:
                    phase.wft_start_s.append(at - scheduled)
                    scheduled = None


def _kind_and_user(workflow_id: str, users: set[str]) -> tuple[str, str | None]:
    """`customer`, `journey:<name>` or `floor`, and the benchmark customer the workflow is for."""
    if workflow_id.startswith("floor-"):
        user = workflow_id.removeprefix("floor-")
        return "floor", user if user in users else None
    if workflow_id.startswith("customer-"):
        user = workflow_id.removeprefix("customer-")
        return "customer", user if user in users else None
    if workflow_id.startswith("journey-"):
        for user in users:  # journey-{name}-{customer}-{run}
            marker = f"-{user}-"
            if marker in workflow_id:
                name = workflow_id.removeprefix("journey-").split(marker)[0]
                return f"journey:{name}", user
    return "other", None


# --------------------------------------------------------------------------------------------
# report


def _ratio(ours: float | None, floor: float | None) -> float | None:
    return ours / floor if ours is not None and floor else None


def ratios_to(floor: dict[str, Any] | None, ours: dict[str, Any] | None) -> dict[str, Any]:
    """Our capacity phase's figures as ratios to one floor's."""
    if not (floor and ours):
        return {}
    return {
        "served_customers_per_s": _ratio(
            ours["served_customers_per_s"], floor["served_customers_per_s"]
        ),
        "history_per_customer": _ratio(ours["history_per_customer"], floor["history_per_customer"]),
        "server_cpu_ms_per_customer": _ratio(
            ours["cpu_ms_per_customer"].get("temporal"),
            floor["cpu_ms_per_customer"].get("temporal"),
        ),
        "latency_p99": _ratio(ours["latency_s"]["p99"], floor["latency_s"]["p99"]),
    }


def report(phases: dict[str, Phase], memory: dict[str, float], args: argparse.Namespace) -> dict:
    figures = {name: phase.figures() for name, phase in phases.items()}
    ours = figures.get("capacity")
    return {
        "benchmark": "journeys",
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k != "json"},
        "phases": figures,
        "ratio_to_floor": ratios_to(figures.get("floor"), ours),
        "ratio_to_event_floor": ratios_to(figures.get("floor-events"), ours),
        "peak_memory_mb": memory,
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if value == float("inf") else f"{value:.{digits}f}"
    return str(value)


def print_table(rep: dict[str, Any]) -> None:
    phases = rep["phases"]
    names = list(phases)
    rows: list[tuple[str, list[Any]]] = [
        ("customers", [phases[n]["customers"] for n in names]),
        ("offered customers/s", [phases[n]["offered_customers_per_s"] for n in names]),
        ("accepted events/s", [phases[n]["accepted_events_per_s"] for n in names]),
        ("customers fully served", [phases[n]["served_customers"] for n in names]),
        ("customers fully served/s", [phases[n]["served_customers_per_s"] for n in names]),
        ("event→email latency p50 s", [phases[n]["latency_s"]["p50"] for n in names]),
        ("event→email latency p95 s", [phases[n]["latency_s"]["p95"] for n in names]),
        ("event→email latency p99 s", [phases[n]["latency_s"]["p99"] for n in names]),
        ("history events/customer", [phases[n]["history_per_customer"] for n in names]),
        ("history events/event", [phases[n]["history_per_event"]["total"] for n in names]),
        (
            "WFT schedule-to-start p99 s",
            [phases[n]["workflow_task_schedule_to_start_s"]["p99"] for n in names],
        ),
    ]
    for group in ("temporal", "worker", "api", "floor-worker"):
        rows.append(
            (
                f"CPU ms/customer: {group}",
                [phases[n]["cpu_ms_per_customer"].get(group) for n in names],
            )
        )
    rows.append(
        (
            "state queries failed/>2 s",
            [phases[n]["state_queries"]["failed_or_over_2s"] for n in names],
        )
    )
    rows.append(("state query worst s", [phases[n]["state_queries"]["worst_s"] for n in names]))
    width = max(len(label) for label, _ in rows)
    print(f"\n{'':{width}}  " + "  ".join(f"{n:>10}" for n in names))
    for label, values in rows:
        print(f"{label:{width}}  " + "  ".join(f"{_fmt(v):>10}" for v in values))
    print("\nhistory events per incoming event, by workflow:")
    for name in names:
        per = phases[name]["history_per_event"]
        print(f"  {name}: " + ", ".join(f"{k} {v:.1f}" for k, v in per.items()))
    print("\nhistory events per run, by type (sampled runs):")
    for name in names:
        for kind, types in phases[name]["history_events_per_run_by_type"].items():
            print(f"  {name} {kind}: " + ", ".join(f"{k} {v:.1f}" for k, v in types.items()))
    for key, floor in (("ratio_to_floor", "floor"), ("ratio_to_event_floor", "floor-events")):
        if rep.get(key):
            print(f"\nratio to {floor} (capacity ÷ {floor}):")
            for figure, value in rep[key].items():
                print(f"  {figure}: {_fmt(value)}")
    print(
        "\npeak memory MB: " + ", ".join(f"{k} {v:.0f}" for k, v in rep["peak_memory_mb"].items())
    )


# --------------------------------------------------------------------------------------------
# main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.journeys", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--customers", type=int, default=200, help="per phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=20, help="customers sending at once")
    parser.add_argument(
        "--phases",
        default="floor,floor-events,capacity,steady",
        help="which, in order (default all four)",
    )
    parser.add_argument("--rate", type=float, help="steady phase: customers per second")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--database-url", help="the store (default: SQLite in the temp dir)")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="JOURNEYS_X=VALUE",
        help="a setting for the worker and API, e.g. JOURNEYS_WORKFLOW_TASK_POLLERS=5 (repeat)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0, help="per phase, for the emails")
    parser.add_argument("--history-sample", type=int, default=150, help="histories read in full")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser


async def _main(args: argparse.Namespace, stack: Stack, tmp: Path) -> dict[str, Any]:
    bench = Bench(args, stack, tmp)
    with bench.smtp, bench.providers:
        await bench.start()
        phases: dict[str, Phase] = {}
        for name in [p.strip() for p in args.phases.split(",") if p.strip()]:
            if name == "steady":
                capacity = phases.get("capacity")
                rate = args.rate or (
                    0.5 * capacity.figures()["served_customers_per_s"] if capacity else 1.0
                )
                count = max(1, int(rate * args.steady_seconds))
                phases[name] = await bench.run_phase(name, count, rate)
            elif name in (*FLOORS, "capacity"):
                phases[name] = await bench.run_phase(name, args.customers, None)
            else:
                raise SystemExit(f"unknown phase {name!r}: floor, floor-events, capacity, steady")
        groups = stack.groups()
        memory: dict[str, float] = {
            g: group_peak_rss_mb(groups[g]) for g in ("temporal", "worker", "api") if g in groups
        }
        await bench.http.aclose()
        return report(phases, memory, args)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="journeys-bench-"))
    stack = Stack()
    try:
        rep = asyncio.run(_main(args, stack, tmp))
    finally:
        stack.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print_table(rep)
    timed_out = [n for n, p in rep["phases"].items() if p["timed_out"]]
    return 1 if timed_out else 0


if __name__ == "__main__":
    sys.exit(main())

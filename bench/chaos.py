"""Chaos: the whole stack keeps its promise while its parts are killed — a verdict anyone can run.

Two runs of the same traffic, each on a fresh stack of separate processes on free loopback ports
(the Temporal dev server on a SQLite file, `journeys api`, `journeys worker`; in this process a
real SMTP receiver and a real HTTP receiver for SMS, push and webhooks):

  reference  the traffic with no fault;
  chaos      the same traffic at a steady rate (by default half the rate the reference, sent
             flat out, was served at) while, spread over it, the run SIGKILLs a worker
             (restarting it), the API (restarting it on its port), the Temporal server
             (restarting it on the same database file), and — with a second worker started —
             one of two workers (not restarted).

Each customer's calls are sent one after another by a client that retries as Segment's
libraries do: the same body and messageId again after a 5xx, a 429 or a connection error, with
jittered exponential back-off. The traffic and its event timestamps are the same in both runs,
except that in the chaos run a share of the customers (--duplicates) send every call twice at
once, to two API replicas (--apis; each retry goes to the next replica, as through a load
balancer) — the reference sends it once, so equal states mean each event was applied once.

Once the chaos run has delivered what the reference delivered and the stack is idle, the verdict
compares them. It passes (exit code 0) only if
  - every call was accepted (none refused, none given up);
  - every customer's state is the reference's: stage, events applied (total and per name),
    stage entries, journey entries, active journeys, segments — so each accepted event was
    applied exactly once;
  - every journey run is where the reference's is (status and step);
  - the receivers got exactly the reference's messages, each Message-ID / Idempotency-Key at
    least once; a redelivery under the same id (which a receiver drops) is counted and shown;
  - nothing is stuck: no open workflow with a failing workflow task or a retrying activity, no
    backlog on the task queue;
  - every `state` query sampled during the run (one every half second, on a customer already
    sending) answered within 2 s, except those sent while the Temporal server itself was down.
For each fault it reports how long the part took to come back, the longest wait of a client's
call, the longest gap between deliveries and the slowest event → email latency after it.

    .venv/bin/python -m bench.chaos [--customers 1200] [--rate R] [--postgres | --database-url URL]
                                    [--apis 2] [--workers 2]
"""

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/chaos.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from temporalio.api.enums.v1 import TaskQueueType  # noqa: E402
from temporalio.api.taskqueue.v1 import TaskQueue  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest  # noqa: E402
from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402

from bench.journeys import OWED, HttpReceiver, SmtpReceiver  # noqa: E402
from bench.stack import (  # noqa: E402
    Child,
    Stack,
    child_env,
    free_port,
    group_peak_rss_mb,
    log,
    machine,
    percentiles,
    product_settings,
    publish_shipped,
    stop_group,
    wait_healthy,
    wait_pollers,
)
from journeys.config.temporal import DATA_CONVERTER, quiet_runtime  # noqa: E402
from journeys.devserver import DevServer, find_binary  # noqa: E402
from journeys.vocabulary import search_attributes as sa  # noqa: E402
from journeys.vocabulary.customer_types import CustomerState  # noqa: E402
from journeys.vocabulary.ids import (  # noqa: E402
    PROVIDER_CHANNELS,
    channel_task_queue,
    customer_workflow_id,
)

WRITE_KEY = "chaos-write-key"
QUEUE = "journeys-chaos"
QUERY_BUDGET_S = 2.0
RUNTIME = quiet_runtime()  # core log lines to stderr, not into the JSON on stdout
FAULTS = ("worker", "api", "worker", "server", "pair", "worker")
FAULT_HELP = {
    "worker": "SIGKILL the worker, start a new one",
    "api": "SIGKILL the API, start a new one on the same port",
    "server": "SIGKILL the Temporal server, start it again on the same database file",
    "pair": "start a second worker, then SIGKILL the first (not restarted)",
}


# --------------------------------------------------------------------------------------------
# traffic


def customer_calls(user: str, index: int, base: datetime) -> list[tuple[str, str, dict]]:
    """(trigger name, path, body): a first visit that ends in an order, with fixed messageIds
    and timestamps so both runs send the same events. Every third customer sends its three
    track calls as one /v1/batch, as a server-side library does."""
    at = base + timedelta(seconds=index)
    product = {"product_id": "p-1", "name": "Mug", "price": 12.0, "quantity": 2}
    tracks = [
        ("Product Viewed", product),
        ("Checkout Started", {"cart_id": f"c-{user}", "products": [product]}),
        ("Order Completed", {"order_id": f"o-{user}", "total": 24.0, "products": [product]}),
    ]

    def body(seq: int, **call: Any) -> dict[str, Any]:
        stamp = (at + timedelta(milliseconds=10 * seq)).isoformat()
        return {"userId": user, "messageId": f"{user}-{seq}", "timestamp": stamp, **call}

    calls: list[tuple[str, str, dict]] = [
        ("identify", "/v1/identify", body(0, traits={"email": f"{user}@chaos.test"})),
        ("page", "/v1/page", body(1, name="Home")),
    ]
    if index % 3 == 2:
        batch = [
            body(2 + i, type="track", event=name, properties=props)
            for i, (name, props) in enumerate(tracks)
        ]
        calls.append(("Order Completed", "/v1/batch", {"batch": batch}))
    else:
        for i, (name, props) in enumerate(tracks):
            calls.append((name, "/v1/track", body(2 + i, event=name, properties=props)))
    return calls


@dataclass
class CallLog:
    first_try: float
    accepted: float | None = None  # time.time() of the 2xx; None: refused or given up
    attempts: int = 0
    refused: str | None = None  # a 4xx, or "gave up"


class SegmentClient:
    """Retries like Segment's libraries: same body (same messageIds) after a 5xx, a 429 or a
    connection error, jittered exponential back-off, until `deadline_s` has passed. With
    several API replicas each attempt goes to the next one, as through a load balancer."""

    def __init__(self, replicas: list[httpx.AsyncClient], deadline_s: float) -> None:
        self.replicas, self.deadline_s = replicas, deadline_s
        self.rng = random.Random(3)
        self.calls: list[CallLog] = []

    async def post(self, path: str, body: dict[str, Any], replica: int = 0) -> CallLog:
        entry = CallLog(first_try=time.time())
        self.calls.append(entry)
        while True:
            entry.attempts += 1
            http = self.replicas[(replica + entry.attempts - 1) % len(self.replicas)]
            try:
                response = await http.post(path, json=body)
                if response.status_code < 300:
                    entry.accepted = time.time()
                    return entry
                if response.status_code < 500 and response.status_code != 429:
                    entry.refused = f"HTTP {response.status_code}: {response.text[:300]}"
                    return entry
            except httpx.TransportError:
                pass
            if time.time() - entry.first_try > self.deadline_s:
                entry.refused = f"gave up after {entry.attempts} attempts"
                return entry
            cap = min(10.0, 0.25 * 2 ** min(entry.attempts, 8))
            await asyncio.sleep(self.rng.uniform(cap / 2, cap))


# --------------------------------------------------------------------------------------------
# one stack


@dataclass
class FaultLog:
    kind: str
    at: float
    back_at: float | None = None  # the part healthy again (None: not restarted)
    until: float = 0.0  # the next fault, or the end of the run


@dataclass
class Outcome:
    customers: dict[str, dict[str, Any]]
    runs: dict[str, tuple[str, str]]  # journey workflow id -> (status, step)
    messages: Counter[str]  # Message-ID / Idempotency-Key -> times received
    stuck: list[str]
    backlog: int


class Run:
    """One stack, the traffic through it, and what it did."""

    def __init__(self, name: str, args: argparse.Namespace, tmp: Path, database_url: str) -> None:
        self.name, self.args, self.tmp, self.database_url = name, args, tmp, database_url
        self.stack = Stack()
        self.smtp = SmtpReceiver()
        self.providers = HttpReceiver()
        self.faults: list[FaultLog] = []
        self.queries: list[tuple[float, float]] = []  # (sent at, seconds; inf: failed)
        self.query_errors: list[tuple[float, str]] = []
        # when no query could be answered: the server down, or no worker alive at all
        self.outages: list[tuple[float, float]] = []
        self.triggers: dict[tuple[str, str], float] = {}  # (user, trigger) -> accepted at
        self.started_users: list[str] = []  # customers whose first call was accepted
        self.peak_mb: dict[str, float] = {}
        self.worker_count = 0
        self.extra_settings: dict[str, str] = {}  # JOURNEYS_ settings beyond the stack's own
        self.worker_settings: dict[str, str] = {}  # and those for workers alone (a port)
        self._samplers: list[asyncio.Task[None]] = []
        self.sent_at = self.settled_at = 0.0
        self.client: Client
        self.segment: SegmentClient

    # ---- the parts

    async def start(self) -> None:
        self.temporal_port, self.ui_port = free_port(), free_port()
        self.api_ports = [free_port() for _ in range(self.args.apis)]
        await self._start_server()
        self.env = child_env(
            product_settings(
                address=f"127.0.0.1:{self.temporal_port}",
                database_url=self.database_url,
                write_key=WRITE_KEY,
                task_queue=QUEUE,
                smtp_port=self.smtp.port,
                providers_url=self.providers.url,
            )  # fmt: skip
            | self.extra_settings
        )
        await publish_shipped(self.env, self.tmp)
        self.client = await Client.connect(
            f"127.0.0.1:{self.temporal_port}", data_converter=DATA_CONVERTER, runtime=RUNTIME
        )
        for _ in range(self.args.workers):
            await self.start_worker()
        for replica in range(self.args.apis):
            await self.start_api(replica)
        auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        limit = self.args.concurrency
        self.https = [
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": auth},
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                timeout=httpx.Timeout(30.0),
            )
            for port in self.api_ports
        ]
        self.segment = SegmentClient(self.https, self.args.call_deadline)

    async def _start_server(self) -> None:
        self.stack.server = DevServer(self.tmp / "temporal.db", self.temporal_port, self.ui_port)
        await self.stack.server.start(log_file=self.tmp / "temporal.log")

    async def start_worker(self) -> Child:
        self.worker_count += 1
        name = f"worker-{self.worker_count}"
        child = self.stack.spawn(
            name,
            [find_binary("journeys"), "worker"],
            env=self.env | self.worker_settings,
            log_file=self.tmp / f"{name}.log",
            cwd=self.tmp,
        )
        await wait_pollers(self.client, QUEUE, child, timeout=120, this_process=True)
        return child

    async def catch_up(self, timeout: float = 60.0) -> None:
        """Until a state query on every customer started so far has answered (or `timeout`)."""

        async def answered(user: str) -> None:
            handle = self.client.get_workflow_handle(customer_workflow_id(user))
            with contextlib.suppress(Exception):
                await handle.query("state", rpc_timeout=timedelta(seconds=timeout))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(answered(u) for u in list(self.started_users))), timeout
            )

    async def drain(self, timeout: float = 60.0) -> None:
        """Until the task queues' backlog reads 0 (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and await self.backlog() > 0:
            await asyncio.sleep(0.5)

    async def start_api(self, replica: int) -> Child:
        port = self.api_ports[replica]
        child = self.stack.spawn(
            f"api-{replica + 1}",
            [find_binary("journeys"), "api", "--port", str(port)],
            env=self.env,
            log_file=self.tmp / f"api-{replica + 1}.log",
            cwd=self.tmp,
        )
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", child, timeout=120)
        return child

    def live_workers(self) -> list[Child]:
        return [
            c
            for c in self.stack.children
            if c.name.startswith("worker-") and c.popen.poll() is None
        ]

    def _sample_memory(self) -> None:
        for name, pgid in self.stack.groups().items():
            kind = name.split("-")[0] if name.startswith(("worker-", "api-")) else name
            with contextlib.suppress(OSError):
                self.peak_mb[kind] = max(self.peak_mb.get(kind, 0.0), group_peak_rss_mb(pgid))

    # ---- faults

    async def inject(self, kind: str) -> FaultLog:
        fault = FaultLog(kind, at=time.time())
        self.faults.append(fault)
        self._sample_memory()
        if kind == "worker":
            worker = self.live_workers()[-1]
            stop_group(worker.pgid, signal.SIGKILL)
            fault.at = time.time()
            await asyncio.sleep(self.args.down)
            await self.start_worker()
            if not self.live_workers()[:-1]:
                # the only worker: customers are answerable again once it has replayed them
                # (a cold worker catching up took 5 s once) and worked off the tasks that
                # waited for it (a query waits behind its customer's); both are recovery
                await self.catch_up()
                await self.drain()
                self.outages.append((fault.at, time.time()))
        elif kind == "api":
            replica = len(self.api_ports) - 1  # with replicas, the others go on serving
            api = next(c for c in reversed(self.stack.children) if c.name == f"api-{replica + 1}")
            stop_group(api.pgid, signal.SIGKILL)
            fault.at = time.time()
            await asyncio.sleep(self.args.down)
            await self.start_api(replica)
        elif kind == "server":
            server = self.stack.server
            assert server is not None and server.process is not None
            stop_group(server.process.pid, signal.SIGKILL)
            fault.at = time.time()
            await asyncio.sleep(self.args.down)
            await self._start_server()
            for worker in self.live_workers():  # answerable again once a worker polls again
                await wait_pollers(self.client, QUEUE, worker, timeout=120, this_process=True)
            self.outages.append((fault.at, time.time()))
        elif kind == "pair":
            first = self.live_workers()[-1]
            await self.start_worker()
            await asyncio.sleep(self.args.down * 5)  # both share the work for a while
            stop_group(first.pgid, signal.SIGKILL)
            fault.at = time.time()
        else:
            raise SystemExit(f"unknown fault {kind!r}: {', '.join(FAULT_HELP)}")
        fault.back_at = None if kind == "pair" else time.time()
        log(f"{self.name}: {kind} fault, back in {(fault.back_at or fault.at) - fault.at:.1f}s")
        return fault

    # ---- the traffic

    async def drive(
        self, users: list[str], base: datetime, rate: float | None, faults: list[str]
    ) -> None:
        """Start customers, `--concurrency` at once, at `rate` a second (None: flat out), with
        the faults spread evenly over the sending."""
        gate = asyncio.Semaphore(self.args.concurrency)
        started = time.time()

        twice = {u for u in users if random.Random(u).random() < self.args.duplicates}

        async def one(index: int, user: str) -> None:
            async with gate:
                for trigger, path, body in customer_calls(user, index, base):
                    if faults and user in twice:  # the same call to two replicas at once
                        calls = await asyncio.gather(
                            *(self.segment.post(path, body, replica=r) for r in (0, 1))
                        )
                        call = min(calls, key=lambda c: c.accepted or float("inf"))
                    else:
                        call = await self.segment.post(path, body, replica=index)
                    if call.accepted is not None:
                        self.triggers[(user, trigger)] = call.accepted
                        if trigger == "identify":
                            self.started_users.append(user)  # its workflow exists now
                    else:
                        return  # the rest would come out of order; the verdict reports it

        async def inject_spread() -> None:
            span = len(users) / rate if rate else 0.0
            for i, kind in enumerate(faults):
                await asyncio.sleep(
                    max(0.0, started + span * (i + 1) / (len(faults) + 1) - time.time())
                )
                await self.inject(kind)

        async def sample_queries() -> None:
            rng = random.Random(5)
            while True:
                await asyncio.sleep(0.5)
                if not self.started_users:
                    continue
                user = rng.choice(self.started_users)
                handle = self.client.get_workflow_handle(customer_workflow_id(user))
                sent = time.time()
                try:
                    await handle.query("state", rpc_timeout=timedelta(seconds=QUERY_BUDGET_S * 2))
                    self.queries.append((sent, time.time() - sent))
                except Exception as err:  # noqa: BLE001  (any failure counts as failed)
                    self.queries.append((sent, float("inf")))
                    self.query_errors.append((sent, f"{type(err).__name__}: {err}"[:200]))

        async def sample_memory() -> None:
            while True:
                self._sample_memory()
                await asyncio.sleep(5)

        samplers = [asyncio.create_task(sample_queries()), asyncio.create_task(sample_memory())]
        injector = asyncio.create_task(inject_spread())
        tasks = []
        for i, user in enumerate(users):
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.time()))
            tasks.append(asyncio.create_task(one(i, user)))
        await asyncio.gather(*tasks)
        await injector
        self.sent_at = time.time()
        self._samplers = samplers

    async def settle(self, expected: set[str] | None, owed_per_user: int, users: list[str]) -> None:
        """Until the receivers have what is expected (every reference message, or for the
        reference `owed_per_user` emails each), then until nothing moves: no new message for
        --quiet seconds and no backlog."""
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline:
            got = set(self.messages())
            if expected is not None and expected <= got:
                break
            if expected is None and len(got) >= owed_per_user * len(users):
                break
            await asyncio.sleep(0.5)
        else:
            log(f"{self.name}: timed out waiting for messages")
        last, count = time.monotonic(), -1
        while time.monotonic() < deadline:
            now_count = sum(self.messages().values())
            if now_count != count:
                last, count = time.monotonic(), now_count
            elif time.monotonic() - last > self.args.quiet and await self.backlog() == 0:
                break
            await asyncio.sleep(0.5)
        self.settled_at = time.time()
        for task in self._samplers:
            task.cancel()
        self._sample_memory()

    async def backlog(self) -> int:
        """Tasks waiting on the workflow and activity queues, the channels' queues included."""
        queues = [
            (QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            (QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
            *(
                (channel_task_queue(QUEUE, c), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
                for c in PROVIDER_CHANNELS
            ),
        ]
        total = 0
        for queue, kind in queues:
            described = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                    report_stats=True,
                )
            )
            total += described.stats.approximate_backlog_count
        return total

    def messages(self) -> Counter[str]:
        """Each delivery's Message-ID (email) or Idempotency-Key (SMS, push, webhook)."""
        with self.smtp.lock:
            found = Counter(m.message_id for m in self.smtp.messages)
        found.update(f"{path} {key}" for _, path, key in list(self.providers.requests))
        return found

    # ---- what it did

    async def keep_history(self, handle: Any) -> str:
        """An unreadable customer's history, written where the run's temporary folder does not
        take it away: a state that does not replay is what to look at."""
        try:
            history = await handle.fetch_history()
        except Exception as err:  # noqa: BLE001
            return f"not fetched: {type(err).__name__}"
        path = Path(tempfile.gettempdir()) / f"journeys-{self.name}-{handle.id}-{uuid.uuid4()}.json"
        path.write_text(history.to_json())
        log(f"{self.name}: the history of {handle.id} kept in {path}")
        return str(path)

    async def outcome(self, users: list[str]) -> Outcome:
        gate = asyncio.Semaphore(20)
        customers: dict[str, dict[str, Any]] = {}

        async def state_of(user: str) -> None:
            async with gate:
                handle = self.client.get_workflow_handle(customer_workflow_id(user))
                for attempt in range(3):  # the verdict compares states; the 2 s budget is
                    try:  # checked on the sampled queries, so a failed read is asked again
                        state = await handle.query("state", result_type=CustomerState)
                        break
                    except Exception as err:  # noqa: BLE001
                        failure = f"{type(err).__name__}: {str(err)[:200]}"
                        log(f"{self.name}: state of {user} unreadable ({attempt + 1}): {failure}")
                        await asyncio.sleep(2)
                else:
                    customers[user] = {"error": failure, "history": await self.keep_history(handle)}
                    return
                customers[user] = {
                    "stage": str(state.stage),
                    "events_total": state.events_total,
                    "event_counts": dict(sorted(state.event_counts.items())),
                    "stage_entries": {str(k): v for k, v in sorted(state.stage_entries.items())},
                    "journey_entries": dict(sorted(state.journeys.entries.items())),
                    "active_journeys": sorted(state.journeys.active),
                    "segments": sorted(state.segments),
                }

        await asyncio.gather(*(state_of(u) for u in users))
        runs: dict[str, tuple[str, str]] = {}
        latest: dict[str, datetime] = {}
        stuck: list[str] = []
        open_ids: list[tuple[str, str]] = []
        async for execution in self.client.list_workflows(
            'WorkflowType="JourneyWorkflow" OR WorkflowType="CustomerWorkflow"', page_size=1000
        ):
            if execution.status == WorkflowExecutionStatus.RUNNING:
                open_ids.append((execution.id, execution.run_id or ""))
            if execution.workflow_type != "JourneyWorkflow":
                continue
            if execution.id in latest and latest[execution.id] >= execution.start_time:
                continue
            latest[execution.id] = execution.start_time
            step = execution.typed_search_attributes.get(sa.JOURNEY_STEP) or ""
            status = execution.status.name if execution.status else "?"
            runs[execution.id] = (status, step)

        async def check(workflow_id: str, run_id: str) -> None:
            async with gate:
                handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
                raw = (await handle.describe()).raw_description
            task = raw.pending_workflow_task
            if task.attempt > 1:
                stuck.append(f"{workflow_id}: workflow task attempt {task.attempt}")
            for activity in raw.pending_activities:
                stuck.append(
                    f"{workflow_id}: activity {activity.activity_type.name} pending, "
                    f"attempt {activity.attempt}"
                )

        await asyncio.gather(*(check(w, r) for w, r in open_ids))
        return Outcome(customers, runs, self.messages(), sorted(stuck), await self.backlog())

    def figures(self) -> dict[str, Any]:
        """Client, latency, query and per-fault figures of this run."""
        calls = self.segment.calls
        waits = [c.accepted - c.first_try for c in calls if c.accepted is not None]
        latencies = self._latencies(0.0, float("inf"))

        def in_down(t: float) -> bool:
            return any(a - 1 <= t <= b + 1 for a, b in self.outages)

        query_s = [q for _, q in self.queries]
        outside = [q for t, q in self.queries if not in_down(t)]
        start = self.segment.calls[0].first_try
        slow = [
            f"+{t - start:.1f}s {q:.1f}s"
            for t, q in self.queries
            if q > QUERY_BUDGET_S and not in_down(t) and q != float("inf")
        ]
        errors = [f"+{t - start:.1f}s {e}" for t, e in self.query_errors if not in_down(t)]
        faults = []
        for i, fault in enumerate(self.faults):
            fault.until = self.faults[i + 1].at if i + 1 < len(self.faults) else self.settled_at
            window = [
                c for c in calls
                if c.first_try < fault.until and (c.accepted or fault.until) >= fault.at
            ]  # fmt: skip
            window_waits = [c.accepted - c.first_try for c in window if c.accepted is not None]
            fault_latencies = self._latencies(fault.at - 5, fault.until)
            faults.append(
                {
                    "fault": fault.kind,
                    "at_s": round(fault.at - start, 1),
                    "back_s": None if fault.back_at is None else fault.back_at - fault.at,
                    "longest_call_wait_s": max(window_waits, default=None),
                    "longest_delivery_gap_s": self._longest_gap(fault.at, fault.until),
                    "slowest_email_after_s": max(fault_latencies, default=None),
                }
            )
        return {
            "calls": len(calls),
            "served_customers_per_s": self._served_per_s(),
            "calls_retried": sum(1 for c in calls if c.attempts > 1),
            "calls_not_accepted": [c.refused for c in calls if c.accepted is None][:10],
            "call_wait_s": percentiles(waits),
            "email_latency_s": percentiles(latencies),
            "state_queries": {
                "sent": len(query_s),
                "over_2s_or_failed": sum(1 for q in query_s if q > QUERY_BUDGET_S),
                "over_2s_or_failed_answerable": sum(1 for q in outside if q > QUERY_BUDGET_S),
                "worst_s": max(query_s, default=None),
                "worst_answerable_s": max(outside, default=None),
                "slow_answerable": slow[:10],
                "errors_answerable": errors[:10],
            },
            "drain_s": self.settled_at - self.sent_at,
            "faults": faults,
            "peak_memory_mb": dict(self.peak_mb),
        }

    def _served_per_s(self) -> float | None:
        """Customers a second from the first call to the last owed email: for the reference,
        sent flat out, what this stack serves at most."""
        with self.smtp.lock:
            owed = [m.at for m in self.smtp.messages
                    if any(m.subject.startswith(o.subject) for o in OWED)]  # fmt: skip
        if not owed or not self.segment.calls:
            return None
        return len(self.started_users) / max(max(owed) - self.segment.calls[0].first_try, 1e-9)

    def _latencies(self, begin: float, end: float) -> list[float]:
        """Event → email seconds for the emails whose triggering call was accepted in
        [begin, end)."""
        out = []
        with self.smtp.lock:
            messages = list(self.smtp.messages)
        first: dict[tuple[str, str], float] = {}
        for m in messages:
            for owed in OWED:
                if m.subject.startswith(owed.subject):
                    key = (m.to.split("@")[0], owed.trigger)
                    first[key] = min(first.get(key, m.at), m.at)
        for key, at in first.items():
            trigger = self.triggers.get(key)
            if trigger is not None and begin <= trigger < end:
                out.append(at - trigger)
        return out

    def _longest_gap(self, begin: float, end: float) -> float | None:
        with self.smtp.lock:
            times = sorted(m.at for m in self.smtp.messages if begin <= m.at < end)
        times += [at for at, _, _ in self.providers.requests if begin <= at < end]
        times = sorted([begin, *times, end])
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=None)

    @contextlib.contextmanager
    def receivers(self) -> Iterator[None]:
        with self.smtp, self.providers:
            try:
                yield
            finally:
                self.stack.stop_all()


# --------------------------------------------------------------------------------------------
# the verdict


def compare(reference: Outcome, chaos: Outcome, figures: dict[str, Any]) -> list[dict]:
    """The checks, each {check, ok, detail}."""

    def differing(ours: dict, theirs: dict) -> list[str]:
        keys = sorted(set(ours) | set(theirs))
        return [
            f"{k}: {theirs.get(k)} vs reference {ours.get(k)}"
            for k in keys
            if ours.get(k) != theirs.get(k)
        ]

    broken = [u for u, state in reference.customers.items() if "error" in state]
    owed = len(OWED) * len(reference.customers)
    state_diff = differing(reference.customers, chaos.customers)
    state_diff += [f"{u}: {s}" for u, s in chaos.customers.items() if "error" in s]
    run_diff = differing(reference.runs, chaos.runs)
    missing = set(reference.messages) - set(chaos.messages)
    unexpected = set(chaos.messages) - set(reference.messages)
    redelivered = sum(n - 1 for n in chaos.messages.values() if n > 1)
    queries = figures["state_queries"]
    not_accepted = figures["calls_not_accepted"]
    return [
        {
            "check": "the reference is whole (every state read, every owed email received)",
            "ok": not broken and len(reference.messages) >= owed,
            "detail": f"{len(reference.messages)} of {owed} owed emails, "
            f"{len(broken)} states unreadable",
        },
        {
            "check": "every call accepted",
            "ok": not not_accepted,
            "detail": f"{figures['calls']} calls, {figures['calls_retried']} retried"
            + (f"; not accepted: {not_accepted}" if not_accepted else ""),
        },
        {
            "check": "every customer's state as in the reference (each event applied once)",
            "ok": not state_diff,
            "detail": f"{len(reference.customers)} customers, {len(state_diff)} differ"
            + (f": {state_diff[:3]}" if state_diff else ""),
        },
        {
            "check": "every journey run at the reference's status and step",
            "ok": not run_diff,
            "detail": f"{len(reference.runs)} runs, {len(run_diff)} differ"
            + (f": {run_diff[:3]}" if run_diff else ""),
        },
        {
            "check": "every message received, none unexpected (by Message-ID / Idempotency-Key)",
            "ok": not missing and not unexpected,
            "detail": f"{len(reference.messages)} expected, {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {redelivered} redelivered under the same id"
            + (f"; missing e.g. {sorted(missing)[:2]}" if missing else ""),
        },
        {
            "check": "the reference itself delivered each message once",
            "ok": all(n == 1 for n in reference.messages.values()),
            "detail": f"{sum(reference.messages.values())} deliveries",
        },
        {
            "check": "nothing stuck (no failing workflow task, no retrying activity, no backlog)",
            "ok": not chaos.stuck and chaos.backlog == 0,
            "detail": f"{len(chaos.stuck)} stuck, backlog {chaos.backlog}"
            + (f": {chaos.stuck[:3]}" if chaos.stuck else ""),
        },
        {
            "check": "state queries within 2 s while the server and a worker were up",
            "ok": queries["over_2s_or_failed_answerable"] == 0,
            "detail": f"{queries['sent']} sent, {queries['over_2s_or_failed_answerable']} over "
            f"2 s or failed, worst {_fmt(queries['worst_answerable_s'])} s; "
            f"{queries['over_2s_or_failed']} counting the outages"
            + (
                f": {queries['errors_answerable'][:2]} {queries['slow_answerable'][:2]}"
                if queries["over_2s_or_failed_answerable"]
                else ""
            ),
        },
    ]


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "inf" if value == float("inf") else f"{value:.{digits}f}"
    return str(value)


def print_report(rep: dict[str, Any]) -> None:
    print(
        f"\nchaos verdict: {'PASS' if rep['pass'] else 'FAIL'}  ({rep['store']} store, "
        f"{rep['args']['customers']} customers; chaos at {rep['rate']}/s, the reference "
        f"served {_fmt(rep['reference']['served_customers_per_s'])}/s flat out)"
    )
    for check in rep["checks"]:
        print(f"  [{'ok' if check['ok'] else 'FAIL'}] {check['check']}: {check['detail']}")
    chaos = rep["chaos"]
    print(
        "\nfault        at s   back s  longest call wait s  longest delivery gap s  "
        "slowest email after s"
    )
    for f in chaos["faults"]:
        print(
            f"  {f['fault']:<9} {_fmt(f['at_s'], 0):>5} {_fmt(f['back_s'], 1):>8} "
            f"{_fmt(f['longest_call_wait_s'], 1):>20} {_fmt(f['longest_delivery_gap_s'], 1):>23} "
            f"{_fmt(f['slowest_email_after_s'], 1):>22}"
        )
    for name in ("reference", "chaos"):
        fig = rep[name]
        lat = fig["email_latency_s"]
        print(
            f"\n{name}: email latency p50 {_fmt(lat['p50'])} p99 {_fmt(lat['p99'])} max "
            f"{_fmt(lat['max'])} s; calls retried {fig['calls_retried']}; drained in "
            f"{_fmt(fig['drain_s'], 1)} s after the last call; peak MB "
            + ", ".join(f"{k} {v:.0f}" for k, v in fig["peak_memory_mb"].items())
        )


# --------------------------------------------------------------------------------------------
# main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="faults:\n" + "\n".join(f"  {k:<7} {v}" for k, v in FAULT_HELP.items()),
    )
    parser.add_argument("--customers", type=int, default=1200)
    parser.add_argument(
        "--rate",
        type=float,
        help="customers starting per second in the chaos run (default: half the reference's "
        "served rate, measured flat out in the same run: a stack with room for its traffic, so "
        "that what is measured is recovery from each fault, not a queue that never drains)",
    )
    parser.add_argument("--concurrency", type=int, default=40, help="customers sending at once")
    parser.add_argument(
        "--apis", type=int, default=1, help="API replicas; a retry goes to the next (default 1)"
    )
    parser.add_argument("--workers", type=int, default=1, help="workers at the start (default 1)")
    parser.add_argument(
        "--duplicates",
        type=float,
        default=0.1,
        help="chaos run: the share of customers whose every call is sent twice at once, to two "
        "replicas (default 0.1); the reference sends each call once",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"in order, spread over the sending (default {','.join(FAULTS)})",
    )
    parser.add_argument(
        "--down", type=float, default=2.0, help="seconds a killed part stays down (default 2)"
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--database-url",
        help="a PostgreSQL server URL; each run gets its own "
        "database on it (created and dropped; the role needs CREATEDB)",
    )
    store.add_argument(
        "--postgres",
        action="store_true",
        help="start a throw-away PostgreSQL cluster (Debian's postgresql)",
    )
    parser.add_argument(
        "--call-deadline",
        type=float,
        default=600.0,
        help="seconds a client keeps retrying one call (default 600)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=5.0,
        help="seconds with no delivery and no backlog that count as idle",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1200.0,
        help="seconds a run may take to deliver after its last call",
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser


@contextlib.contextmanager
def databases(args: argparse.Namespace, tmp: Path) -> Iterator[tuple[str, str, str]]:
    """(store kind, reference URL, chaos URL): two SQLite files, or two fresh databases on
    a PostgreSQL server."""
    if not args.database_url and not args.postgres:
        yield "sqlite", f"sqlite:///{tmp / 'reference.db'}", f"sqlite:///{tmp / 'chaos.db'}"
        return
    with contextlib.ExitStack() as stack:
        url = args.database_url
        if args.postgres:
            from tests.helpers.postgres import postgres_cluster

            url = stack.enter_context(postgres_cluster())
        yield "postgresql", *stack.enter_context(_fresh_databases(url, ("reference", "chaos")))


@contextlib.contextmanager
def _fresh_databases(url: str, names: tuple[str, str]) -> Iterator[tuple[str, str]]:
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    suffix = os.urandom(3).hex()
    made = [f"journeys_chaos_{n}_{suffix}" for n in names]
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in made:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        a, b = (base.set(database=n).render_as_string(hide_password=False) for n in made)
        yield a, b
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def one_run(
    name: str,
    args: argparse.Namespace,
    tmp: Path,
    database_url: str,
    users: list[str],
    base: datetime,
    rate: float | None,
    faults: list[str],
    expected: set[str] | None,
) -> tuple[Outcome, dict[str, Any]]:
    run_dir = tmp / name
    run_dir.mkdir()
    run = Run(name, args, run_dir, database_url)
    with run.receivers():
        await run.start()
        log(
            f"{name}: {len(users)} customers"
            + (f" at {rate}/s" if rate else ", flat out")
            + (f", faults {','.join(faults)}" if faults else "")
        )
        await run.drive(users, base, rate, faults)
        log(f"{name}: all calls answered; waiting for the stack to settle")
        await run.settle(expected, len(OWED), users)
        outcome = await run.outcome(users)
        for http in run.https:
            await http.aclose()
        return outcome, run.figures()


async def _main(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULT_HELP]
    if unknown:
        raise SystemExit(f"unknown fault(s) {unknown}: choose from {', '.join(FAULT_HELP)}")
    run_id = os.urandom(3).hex()
    users = [f"chaos-{run_id}-{i}" for i in range(args.customers)]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=args.customers)
    with databases(args, tmp) as (store, reference_url, chaos_url):
        reference, ref_figures = await one_run(
            "reference", args, tmp, reference_url, users, base, None, [], None
        )
        served = ref_figures["served_customers_per_s"]
        rate = args.rate or (round(served / 2, 2) if served else 1.0)
        chaos, chaos_figures = await one_run(
            "chaos", args, tmp, chaos_url, users, base, rate, faults, set(reference.messages)
        )
    checks = compare(reference, chaos, chaos_figures)
    return {
        "benchmark": "chaos",
        "pass": all(c["ok"] for c in checks),
        "store": store,
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "database_url")},
        "rate": rate,  # customers a second in the chaos run
        "checks": checks,
        "reference": ref_figures,
        "chaos": chaos_figures,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="journeys-chaos-"))
    try:
        rep = asyncio.run(_main(args, tmp))
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print_report(rep)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

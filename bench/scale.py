"""Many live customers on one worker: its memory, and how fast an old customer applies a new
event once its workflow has long left the worker's cache.

Starts, on free loopback ports in a temporary directory, each in its own process group
(bench/stack.py): the Temporal dev server on a SQLite file, one `journeys worker` and
`journeys api` (SQLite store). No journeys are published: this measures customers, which every
shop has in the hundreds of thousands. Then:

  load    --customers N customers, each an identify and a Product Viewed, through /v1/batch
          (--batch-size events a call, --concurrency calls at once, pausing while more than
          --max-backlog workflow tasks wait): N live CustomerWorkflows;
  settle  until every customer has applied its events (a sample of customers, in the order they
          were sent, answers its `state` query with both) and the worker has gone quiet;
  probe   --probes customers chosen at random among the first half loaded, one after the other:
          one /v1/track call each, then its `state` query until the event is applied; the
          latency is the call's start to the query that shows it.

Reported: the load's rate (customers accepted/s, settled/s), worker and server memory (now and
peak), history events per customer, probe latency p50/p95/p99/max, the state queries that
failed. The targets of the issue "real time at real volume": worker RSS < 1.5 GB at 100,000
customers, probe p99 < 2 s.

    .venv/bin/python -m bench.scale [--customers 100000] [--probes 200] [--json]
"""

import argparse
import asyncio
import base64
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/scale.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from temporalio.api.enums.v1 import TaskQueueType  # noqa: E402
from temporalio.api.taskqueue.v1 import TaskQueue  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench.stack import (  # noqa: E402
    Stack,
    child_env,
    free_port,
    group_cpu,
    group_peak_rss_mb,
    log,
    percentiles,
    post_until_ok,
    wait_healthy,
    wait_pollers,
)
from journeys.config.temporal import DATA_CONVERTER  # noqa: E402
from journeys.devserver import DevServer, find_binary  # noqa: E402
from journeys.vocabulary.customer_types import STATE_QUERY, CustomerState  # noqa: E402
from journeys.vocabulary.ids import customer_workflow_id  # noqa: E402

WRITE_KEY = "bench-write-key"
QUEUE = "journeys-scale"
RSS_TARGET_MB = 1536
PROBE_TARGET_S = 2.0


class Scale:
    def __init__(self, args: argparse.Namespace, stack: Stack, tmp: Path) -> None:
        self.args, self.stack, self.tmp = args, stack, tmp
        self.tag = uuid.uuid4().hex[:6]
        self.users = [f"s{self.tag}-{n:06d}" for n in range(args.customers)]
        self.client: Client
        self.http: httpx.AsyncClient
        self.failed_queries = 0

    async def start(self) -> None:
        temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
        self.stack.server = DevServer(self.tmp / "temporal.db", temporal_port, ui_port)
        log(f"starting the temporal dev server (sqlite file) on :{temporal_port}")
        await self.stack.server.start(log_file=self.tmp / "temporal.log")
        env = child_env(
            {
                "JOURNEYS_TEMPORAL_ADDRESS": self.stack.server.address,
                "JOURNEYS_DATABASE_URL": f"sqlite:///{self.tmp / 'journeys.db'}",
                "JOURNEYS_WRITE_KEYS": WRITE_KEY,
                "JOURNEYS_TASK_QUEUE": QUEUE,
                "JOURNEYS_API_HOST": "127.0.0.1",
                "JOURNEYS_LOG_FORMAT": "json",
                "JOURNEYS_LOG_LEVEL": "WARNING",
            }
        )
        journeys = find_binary("journeys")
        worker = self.stack.spawn(
            "worker", [journeys, "worker"], env=env, log_file=self.tmp / "worker.log", cwd=self.tmp
        )
        api = self.stack.spawn(
            "api", [journeys, "api", "--port", str(api_port)], env=env,
            log_file=self.tmp / "api.log", cwd=self.tmp,
        )  # fmt: skip
        self.client = await Client.connect(self.stack.server.address, data_converter=DATA_CONVERTER)
        url = f"http://127.0.0.1:{api_port}"
        await wait_healthy(f"{url}/healthz", api)
        await wait_pollers(self.client, QUEUE, worker)
        auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        self.http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": auth}, timeout=httpx.Timeout(120.0)
        )
        log(
            f"stack up in {self.tmp}: "
            + ", ".join(f"{k} {v}" for k, v in self.stack.groups().items())
        )

    async def load(self) -> float:
        """Every customer's identify and Product Viewed; returns the seconds until all 200s."""
        per_call = max(1, self.args.batch_size // 2)
        chunks = [self.users[i : i + per_call] for i in range(0, len(self.users), per_call)]
        gate = asyncio.Semaphore(self.args.concurrency)
        done = 0
        began = time.monotonic()

        async def send(chunk: list[str]) -> None:
            nonlocal done
            batch: list[dict[str, Any]] = []
            for user in chunk:
                batch.append(
                    {"type": "identify", "userId": user, "messageId": f"{user}-i",
                     "traits": {"plan": "free"}}
                )  # fmt: skip
                batch.append(
                    {"type": "track", "userId": user, "messageId": f"{user}-v",
                     "event": "Product Viewed", "properties": {"product_id": "p-1"}}
                )  # fmt: skip
            async with gate:
                await self._under_backlog()
                await post_until_ok(self.http, "/v1/batch", {"batch": batch}, attempts=10, cap=5.0)
            before, done = done, done + len(chunk)
            every = max(1, len(self.users) // 20)
            if done // every > before // every:  # about every 5%
                rate = done / (time.monotonic() - began)
                worker = group_peak_rss_mb(self.stack.groups()["worker"], "VmRSS")
                log(
                    f"load: {done}/{len(self.users)} customers accepted ({rate:.0f}/s);"
                    f" worker RSS {worker:.0f} MB"
                )

        await asyncio.gather(*(send(chunk) for chunk in chunks))
        return time.monotonic() - began

    async def _under_backlog(self) -> None:
        """Wait while the workflow-task backlog is over --max-backlog: customers arrive at the
        pace the stack applies them (a shop gains customers over months, not in one burst; a
        burst's backlog drained at 3-16 first tasks a second on the dev server)."""
        request = DescribeTaskQueueRequest(
            namespace="default",
            task_queue=TaskQueue(name=QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            report_stats=True,
        )
        while True:
            described = await self.client.workflow_service.describe_task_queue(request)
            if described.stats.approximate_backlog_count <= self.args.max_backlog:
                return
            await asyncio.sleep(0.5)

    async def state(self, user: str) -> CustomerState | None:
        handle = self.client.get_workflow_handle(customer_workflow_id(user))
        try:
            return await handle.query(STATE_QUERY, result_type=CustomerState)
        except Exception:  # noqa: BLE001  (not yet started, or the query failed: asked again)
            self.failed_queries += 1
            return None

    async def settle(self, began: float) -> float:
        """Until a sample of customers, in the order sent, each applied its two events and the
        worker is idle; returns the seconds since `began`."""
        step = max(1, len(self.users) // 200)
        for index, user in enumerate(self.users[::step] + [self.users[-1]]):
            while True:
                state = await self.state(user)
                if state is not None and state.events_total >= 2:
                    break
                await asyncio.sleep(0.5)
            if index % 20 == 0:
                log(f"settle: customer {index * step} applied its events")
        settled = time.monotonic() - began
        worker = self.stack.groups()["worker"]
        while True:  # quiet: under 5% of a core over 3 s
            before = group_cpu(worker)
            await asyncio.sleep(3)
            if group_cpu(worker) - before < 0.15:
                return settled

    async def probe(self) -> list[float]:
        """One new event to each of --probes old customers, one at a time: call → applied."""
        old = self.users[: max(1, len(self.users) // 2)]
        chosen = random.Random(11).sample(old, min(self.args.probes, len(old)))
        took = []
        for user in chosen:
            began = time.monotonic()
            await post_until_ok(
                self.http,
                "/v1/track",
                {"userId": user, "event": "Product Viewed", "messageId": f"{user}-probe",
                 "properties": {"product_id": "p-2"}},
            )  # fmt: skip
            while True:
                state = await self.state(user)
                if state is not None and state.events_total >= 3:
                    break
                await asyncio.sleep(0.01)
            took.append(time.monotonic() - began)
        return took

    async def history_per_customer(self, sample: int = 50) -> float:
        lengths = []
        for user in random.Random(3).sample(self.users, min(sample, len(self.users))):
            history = await self.client.get_workflow_handle(
                customer_workflow_id(user)
            ).fetch_history()
            lengths.append(len(history.events))
        return sum(lengths) / len(lengths)


async def _main(args: argparse.Namespace, stack: Stack, tmp: Path) -> dict[str, Any]:
    scale = Scale(args, stack, tmp)
    await scale.start()
    began = time.monotonic()
    accepted = await scale.load()
    log(f"load: all {args.customers} accepted in {accepted:.0f} s; waiting for them to apply")
    settled = await scale.settle(began)
    groups = stack.groups()
    memory_loaded = {g: group_peak_rss_mb(groups[g], "VmRSS") for g in ("worker", "temporal")}
    log(f"settled in {settled:.0f} s; worker RSS {memory_loaded['worker']:.0f} MB; probing")
    took = await scale.probe()
    memory = {
        "worker_rss_mb": group_peak_rss_mb(groups["worker"], "VmRSS"),
        "worker_peak_mb": group_peak_rss_mb(groups["worker"]),
        "temporal_rss_mb": group_peak_rss_mb(groups["temporal"], "VmRSS"),
        "temporal_peak_mb": group_peak_rss_mb(groups["temporal"]),
        "worker_rss_after_load_mb": memory_loaded["worker"],
    }
    history = await scale.history_per_customer()
    await scale.http.aclose()
    latency = percentiles(took)
    return {
        "benchmark": "scale",
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        "args": vars(args),
        "load": {
            "customers": args.customers,
            "accepted_s": accepted,
            "accepted_per_s": args.customers / accepted,
            "settled_s": settled,
            "settled_per_s": args.customers / settled,
            "history_per_customer": history,
        },
        "memory_mb": memory,
        "probe_latency_s": latency,
        "failed_queries": scale.failed_queries,
        "targets": {
            "worker_rss_under_1_5_gb": memory["worker_peak_mb"] < RSS_TARGET_MB,
            "probe_p99_under_2_s": (latency["p99"] or 0) < PROBE_TARGET_S,
        },
    }


def print_report(rep: dict[str, Any]) -> None:
    load, memory, latency = rep["load"], rep["memory_mb"], rep["probe_latency_s"]
    print(f"{load['customers']} customers on one worker, {rep['machine']['cpus']} CPUs")
    print(
        f"load: accepted in {load['accepted_s']:.0f} s ({load['accepted_per_s']:.0f}/s), "
        f"applied in {load['settled_s']:.0f} s ({load['settled_per_s']:.0f}/s); "
        f"{load['history_per_customer']:.1f} history events per customer"
    )
    print(
        f"memory: worker {memory['worker_rss_mb']:.0f} MB now, {memory['worker_peak_mb']:.0f} MB "
        f"peak (target < {RSS_TARGET_MB}); server {memory['temporal_rss_mb']:.0f} MB now, "
        f"{memory['temporal_peak_mb']:.0f} MB peak"
    )
    print(
        "probe (a new event to an old customer, call → applied), s: "
        + ", ".join(f"{k} {v:.3f}" for k, v in latency.items() if v is not None)
        + f" (target p99 < {PROBE_TARGET_S}); failed state queries {rep['failed_queries']}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500, help="events per /v1/batch call")
    parser.add_argument("--concurrency", type=int, default=4, help="batch calls at once")
    parser.add_argument(
        "--max-backlog", type=int, default=1000, help="workflow tasks waiting before a pause"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="journeys-scale-"))
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
        print_report(rep)
    return 0 if all(rep["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

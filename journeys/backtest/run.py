"""Run a journey spec over a historical event log: the real customer and journey workflows on
Temporal's time-skipping test server, a worker in this process whose channels only record, and a
temporary store seeded with the live store's consent, suppressions, products and segments.

The server's clock cannot go back, so the log is moved forward by a whole number of weeks (the
weekday and time of day, which quiet hours and `wait_until` read, stay the same) and the report
moves every time back. The clock advances to each group of calls (`resolution` wide) before they
are ingested as the API would ingest them, and the server's sleep returns once the work due
before its end is done, so everything the calls cause happens at their time. For a spec naming
segments, the CLV fit and the segment refresh — Temporal Schedules in the product, which the
test server lacks — run as workflows at their simulated moments, awaited with the clock held:
the server was seen moving its clock while the fit's (heartbeating) activity ran.
"""

import asyncio
import base64
import gc
import json
import os
import pickle
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.api.ingest import DeliveryFailed, ingest_calls
from journeys.api.schemas import SegmentCall
from journeys.backtest.events import EventLog, LogSummary
from journeys.channels.templates import load_templates
from journeys.config.settings import ConfigError, Settings
from journeys.config.temporal import quiet_runtime
from journeys.devserver import start_time_skipping
from journeys.store.backtest import add_missing_segments, copy_reference_data, event_customers
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.journeys import CatalogError, publish_spec
from journeys.vocabulary.customer_types import STATE_QUERY, CustomerState
from journeys.vocabulary.ids import customer_workflow_id
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import QueueMessageInput
from journeys.vocabulary.kpi_types import ClvFitInput
from journeys.vocabulary.segment_types import SegmentRefreshInput
from journeys.worker.main import WorkerGroup, build_worker
from journeys.workflows.clv_fit import ClvFitWorkflow
from journeys.workflows.segment_refresh import SegmentRefreshWorkflow

WEEK = timedelta(days=7)
SLEEP_RPC = timedelta(hours=2)  # one simulated step's work, however busy
SCHEDULED_TIMEOUT = timedelta(minutes=30)  # one CLV fit or segment refresh, in real time
# a clock that does not skip while this process idles (under IDLE_CPU_S of CPU a second) this
# long is stuck: sleep_simulated gives up
STALLED_AFTER_S = 300.0
IDLE_CPU_S = 0.02
GC_THRESHOLDS = (10_000, 20, 20)  # a shard's; the default is (700, 10, 10)
TASK_QUEUE = "backtest"
# every channel counts as configured: the recorder stands in for its provider
RECORDERS = {
    "smtp_host": "backtest.invalid",
    "sms_provider_url": "http://backtest.invalid/sms",
    "push_provider_url": "http://backtest.invalid/push",
    "webhook_url": "http://backtest.invalid/webhook",
}


@dataclass
class Progress:
    """What the caller shows while it runs: calls and customers fed, simulated days done (in
    the shard under way; with shards side by side, the least advanced), shards done."""

    calls: int = 0
    customers: set[str] = field(default_factory=set)
    day: int = 0
    days: int = 0
    shard: int = 0
    shards: int = 1
    running: dict[int, int] = field(default_factory=dict)  # shard -> day, side by side


@dataclass(frozen=True)
class Schedules:
    """The product's Temporal Schedules a backtest runs on the simulated clock (the test server
    has none), for a spec that names segments: the CLV fit, which writes the predicted traits
    (p_alive, ...) segments such as churn_risk read, and the segment refresh, which tells
    customers they entered or left — each as its workflow, every interval from the start."""

    segment_refresh: timedelta
    clv_fit: timedelta


@dataclass(frozen=True)
class Shard:
    """One test server's part of a backtest: its store, its simulated time minus event time,
    and the entries its customers refused (kind -> count; the customers' own counters)."""

    database_url: str
    shift: timedelta
    refused: dict[str, int] = field(default_factory=dict)


@dataclass
class Backtest:
    """A finished (or stopped) backtest's stores, still open for the report and `--explain`."""

    shards: list[Shard]
    start: datetime
    end: datetime  # where a stopped backtest's last shard stopped
    complete: bool
    shards_planned: int = 1


def simulated_now(message: QueueMessageInput) -> datetime:
    """The test server's clock, as the activity's current attempt was scheduled. A local
    activity's (a popover's send) is the worker's wall clock, so it reads the moment the run
    asked for the send: its ledger row said December for a November page view."""
    info = activity.info()
    if info.is_local and message.at is not None:
        return message.at
    return info.current_attempt_scheduled_time


def backtest_worker(client: Client, settings: Settings) -> WorkerGroup:
    """The product's worker, its channels recording and counting caps on the simulated clock,
    its workflows outside the sandbox (the code is the tested code; the sandbox's per-task cost
    was a quarter of the backtest's time)."""
    channels = ChannelActivities(
        settings, load_templates(settings.templates_dir), clock=simulated_now, records_only=True
    )
    unsandboxed = settings.model_copy(update={"workflow_sandbox": False})
    return build_worker(client, unsandboxed, channels, local_activities=True)


@dataclass(frozen=True)
class ShardJob:
    """One shard's run, as a process of its own receives it (pickled)."""

    events: Path  # the directory of the log's calls (EventLog)
    shard: int
    resolution: timedelta
    settings: Settings  # the backtest's: its own store, recorders
    start: datetime
    end: datetime
    journey: str
    schedules: Schedules | None


def backtest_settings(settings: Settings, database_url: str) -> Settings:
    return settings.model_copy(
        update={
            **RECORDERS,
            "database_url": database_url,
            "task_queue": TASK_QUEUE,
            "rate_limits": None,  # real-time rates would stall simulated time
            "worker_deployment": None,
            "worker_metrics_port": None,
            "temporal_metrics_port": None,
        }
    )


async def run_backtest(
    spec: JourneySpec,
    log: EventLog,
    summary: LogSummary,
    settings: Settings,
    directory: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    resolution: timedelta = timedelta(minutes=1),
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
    on_step: Callable[[], None] | None = None,
    schedules: Schedules | None = None,
    jobs: int = 1,
) -> Backtest:
    """Feed `log` through `spec` from `start` (by default the first call's day) until `end` (by
    default the end of the last call's day), shard by shard — with `jobs` over 1, that many at
    once, each in a process of its own; `stop` ends the feed early (the backtest is then
    incomplete: shards not begun are left out). `schedules` run when the spec names a
    segment. The shards are independent, so the report does not depend on `jobs`."""
    assert summary.first is not None and summary.last is not None, "an empty log"
    progress = progress or Progress()
    stop = stop or asyncio.Event()
    start = start or _day(summary.first)
    end = end or _day(summary.last) + timedelta(days=1)
    progress.days = max(1, (end - start).days)
    progress.shards = log.shards
    backtest = Backtest([], start, end, complete=True, shards_planned=log.shards)
    side_by_side = min(jobs, log.shards) > 1  # else in this process: no start-up to pay
    gate = asyncio.Semaphore(max(jobs, 1))  # waiters are woken in order: shard 0 first
    preparing = asyncio.Lock()  # alembic's migration context is global: one store at a time
    done: dict[int, tuple[str, timedelta, datetime, dict[str, int]]] = {}

    async def one(shard: int) -> None:
        async with gate:
            if stop.is_set():
                return
            part = directory / f"shard-{shard}"
            part.mkdir()
            url = f"sqlite:///{part / 'backtest.db'}"
            async with preparing:
                await asyncio.to_thread(_prepare_store, settings.database_url, url, spec)
            job = ShardJob(
                events=log.directory, shard=shard, resolution=resolution,
                settings=backtest_settings(settings, url), start=start, end=end,
                journey=spec.name, schedules=schedules if spec.segments_named() else None,
            )  # fmt: skip
            if side_by_side:
                outcome = await _run_shard_process(job, progress, stop, on_step)
            else:
                progress.day = 0
                outcome = await run_shard(
                    log.slots(resolution, shard), job, progress=progress, stop=stop,
                    on_step=on_step,
                )  # fmt: skip
            done[shard] = (url, *outcome)
            progress.shard += 1

    tasks = [asyncio.create_task(one(shard)) for shard in range(log.shards)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    for shard in sorted(done):
        url, shift, stopped_at, refused = done[shard]
        backtest.shards.append(Shard(url, shift, refused))
        if stopped_at < end:  # fed until at least the earliest stop
            backtest.end, backtest.complete = min(backtest.end, stopped_at), False
    return backtest


async def _run_shard_process(
    job: ShardJob, progress: Progress, stop: asyncio.Event, on_step: Callable[[], None] | None
) -> tuple[timedelta, datetime, dict[str, int]]:
    """`run_shard` in `python -m journeys.backtest.shard`, in a session of its own: asked to
    stop when `stop` is set, killed with its test server (its process group) if this task is
    cancelled — say another shard failed; its progress adds to ours."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "journeys.backtest.shard", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, start_new_session=True, limit=2**26,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    stdin = process.stdin

    async def relay_stop() -> None:
        await stop.wait()
        try:
            stdin.write(b"stop\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it has ended already

    stdin.write(base64.b64encode(pickle.dumps(job)) + b"\n")
    relay = asyncio.create_task(relay_stop())
    result: dict[str, Any] | None = None
    stalled: str | None = None
    progress.running[job.shard] = 0
    try:
        async for line in process.stdout:
            message = json.loads(line)
            if "result" in message:
                result = message["result"]
                continue
            if "error" in message:
                stalled = message["error"]
                continue
            progress.calls += message["calls"]
            progress.customers.update(message["customers"])
            progress.running[job.shard] = message["day"]
            progress.day = min(progress.running.values())
            if on_step:
                on_step()
        code = await process.wait()
    finally:
        relay.cancel()
        progress.running.pop(job.shard, None)
        if process.returncode is None:
            try:  # the shard leads its session: its group holds its test server too
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
    if stalled is not None:
        raise ClockStalled(f"shard {job.shard}: {stalled}")
    if code != 0 or result is None:
        raise RuntimeError(f"backtest shard {job.shard} failed (exit {code}); its error is above")
    return (timedelta(seconds=result["shift_s"]), datetime.fromisoformat(result["stopped_at"]),
            result["refused"])  # fmt: skip


async def run_shard(
    slots: Iterator[tuple[datetime, list[SegmentCall]]],
    job: ShardJob,
    *,
    progress: Progress,
    stop: asyncio.Event,
    on_step: Callable[[], None] | None,
) -> tuple[timedelta, datetime, dict[str, int]]:
    """One test server and worker through one shard's calls: the shift, the event time it
    stopped at (`end` unless stopped), and the entries into the journey refused."""
    settings, start, end = job.settings, job.start, job.end
    with _long_lived_heap():
        env = await start_time_skipping(quiet_runtime())
        try:
            shift = _shift(start, await env.get_current_time())
            stopped_at = end
            ticks = _ticks(start, end, job.schedules)
            async with backtest_worker(env.client, settings):
                for at, calls in slots:
                    if stop.is_set():  # not before `start`: stopped before its first call
                        stopped_at = max(start, await env.get_current_time() - shift)
                        break
                    await _run_scheduled(env, ticks, until=at, shift=shift)
                    await advance_clock(env, at + shift)
                    await _ingest(env, calls, shift, settings.database_url, at + shift)
                    progress.calls += len(calls)
                    progress.customers.update(_customer(c) for c in calls)
                    progress.day = (at - start).days
                    if on_step:
                        on_step()
                if stopped_at == end:
                    await _run_scheduled(env, ticks, until=end, shift=shift, including=False)
                    await advance_clock(env, end + shift)
                # returns once the last tasks are done
                await sleep_simulated(env, timedelta(seconds=1))
                progress.day = (stopped_at - start).days
                refused = await _refusals(env, settings.database_url, job.journey)
        finally:
            await env.shutdown()
        return shift, stopped_at, refused


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """A shard allocates fast while it holds much that lives long (modules, the worker's cached
    workflows), which the garbage collector's default thresholds walked again and again: what
    lives at the start is frozen out of its reach and the young generation is larger: 0.95 of the
    CPU (a 500-customer win_back, bench/README.md). Thawed at the end, so nothing this
    shard leaves behind stays uncollectable."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _refusals(env: WorkflowEnvironment, url: str, journey: str) -> dict[str, int]:
    """The entries into `journey` the shard's customers refused, from their own counters (a
    merged customer's went to the one it merged into)."""
    with session_scope(url) as session:
        customers = event_customers(session)
    refused: Counter[str] = Counter()

    async def count(customer_id: str) -> None:
        handle = env.client.get_workflow_handle(customer_workflow_id(customer_id))
        try:
            state = await handle.query(STATE_QUERY, result_type=CustomerState)
        except (RPCError, WorkflowQueryFailedError):
            return  # no workflow: its calls never reached one (an ingestion refusal)
        if state.merged_into is None:
            refused.update(state.journeys.refused.get(journey, {}))

    for at in range(0, len(customers), 50):
        await asyncio.gather(*(count(c) for c in customers[at : at + 50]))
    return dict(sorted(refused.items()))


class _Ticks:
    """The scheduled runs still due, (event time, workflow name) in order, and how many began."""

    def __init__(self, due: list[tuple[datetime, str]]) -> None:
        self.due = due
        self.started = 0


def _ticks(start: datetime, end: datetime, schedules: Schedules | None) -> _Ticks:
    due: list[tuple[datetime, str]] = []
    if schedules is not None:
        for every, name in ((schedules.clv_fit, "clv-fit"),
                            (schedules.segment_refresh, "segment-refresh")):  # fmt: skip
            at = start + every
            while at <= end:
                due.append((at, name))
                at += every
    # at one moment the fit goes first, so the refresh reads its traits
    due.sort(key=lambda tick: (tick[0], tick[1] != "clv-fit"))
    return _Ticks(due)


async def _run_scheduled(
    env: WorkflowEnvironment, ticks: _Ticks, *, until: datetime, shift: timedelta,
    including: bool = True,
) -> None:  # fmt: skip
    """Run each scheduled workflow due by `until` (event time) at its own simulated moment, to
    the end, with the clock held (the server lets it move while a heartbeating activity such
    as the CLV fit runs)."""
    while ticks.due and (ticks.due[0][0] < until or (including and ticks.due[0][0] == until)):
        at, name = ticks.due.pop(0)
        await advance_clock(env, at + shift)
        ticks.started += 1
        run: Any = ClvFitWorkflow.run if name == "clv-fit" else SegmentRefreshWorkflow.run
        argument = ClvFitInput() if name == "clv-fit" else SegmentRefreshInput()
        handle = await env.client.start_workflow(
            run, argument, id=f"{name}-{ticks.started}", task_queue=TASK_QUEUE
        )
        deadline = time.monotonic() + SCHEDULED_TIMEOUT.total_seconds()
        # describe, unlike result(), leaves the clock held while it waits
        while (status := (await handle.describe()).status) == WorkflowExecutionStatus.RUNNING:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the scheduled {name} at {at:%Y-%m-%d %H:%M} took too long")
            await asyncio.sleep(0.02)
        if status != WorkflowExecutionStatus.COMPLETED:
            raise RuntimeError(f"the scheduled {name} at {at:%Y-%m-%d %H:%M} ended {status}")


def _prepare_store(live_url: str, url: str, spec: JourneySpec) -> None:
    upgrade_schema(url)
    copy_reference_data(live_url, url)
    with session_scope(url) as session:
        add_missing_segments(session, [name for _, name in spec.segments_named()])
        try:
            publish_spec(session, spec=spec)
        except CatalogError as err:  # a segment archived in the live store, say
            raise ConfigError(str(err)) from err


def _day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _shift(start: datetime, server_now: datetime) -> timedelta:
    """Whole weeks that put the log's first day after the server's clock."""
    weeks = (server_now - start) // WEEK + 1
    return WEEK * max(weeks, 0)


async def advance_clock(env: WorkflowEnvironment, to: datetime) -> None:
    await sleep_simulated(env, to - await env.get_current_time())


class ClockStalled(RuntimeError):
    """The test server's clock stopped skipping while nothing here had work to do."""


async def sleep_simulated(
    env: WorkflowEnvironment, gap: timedelta, *, stalled_after: float = STALLED_AFTER_S
) -> None:
    """The test server's sleep, which returns once simulated time has moved `gap` — after
    every task due before then is done. A busy simulated day took more than the RPC's default
    30 s (CDNOW's first weeks), so it gets as long as it needs; but a clock that only creeps
    on at the pace of real time while this process (worker included) uses no CPU is stuck,
    not busy — the test server leaked a time lock (two such leaks are avoided in `Sends`) —
    and that ends the backtest with an error after `stalled_after` seconds, not two hours."""
    if gap <= timedelta(0):
        return
    request = SleepRequest()
    request.duration.FromTimedelta(gap)
    sleeping = asyncio.ensure_future(
        env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SLEEP_RPC)
    )
    look = min(30.0, stalled_after / 4)
    idle_since = time.monotonic()
    clock, cpu = await env.get_current_time(), time.process_time()
    try:
        while not (await asyncio.wait([sleeping], timeout=look))[0]:
            now_clock, now_cpu = await env.get_current_time(), time.process_time()
            skipped = (now_clock - clock).total_seconds() > 2 * look
            if skipped or now_cpu - cpu > IDLE_CPU_S * look:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > stalled_after:
                raise ClockStalled(
                    f"the simulated clock stopped at {now_clock:%Y-%m-%d %H:%M:%S} with no work "
                    f"left for {stalled_after:.0f} s (a time lock the test server did not "
                    "release); please report it with the journey and the log"
                )
            clock, cpu = now_clock, now_cpu
        sleeping.result()
    finally:
        sleeping.cancel()


def _customer(call: SegmentCall) -> str:
    return call.userId or call.anonymousId or ""


async def _ingest(
    env: WorkflowEnvironment, calls: list[SegmentCall], shift: timedelta, url: str, now: datetime
) -> None:
    moved = [
        call.model_copy(update={
            "timestamp": (call.timestamp or call.originalTimestamp) + shift,  # type: ignore[operator]
            "originalTimestamp": None,
            "sentAt": None,  # no clock-skew correction: the log's times are the times
        })
        for call in calls
    ]  # fmt: skip
    for attempt in range(3):
        results = await ingest_calls(
            moved, client=env.client, database_url=url, task_queue=TASK_QUEUE, received_at=now
        )
        if not any(isinstance(r, DeliveryFailed) for r in results):
            return
        await asyncio.sleep(0.5 * (attempt + 1))  # delivered calls are skipped on the retry
    raise RuntimeError(f"the test server did not take the calls at {now - shift:%Y-%m-%d %H:%M}")

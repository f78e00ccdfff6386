"""End to end through real processes: HTTP on a loopback port, a worker process, the dev server.

A customer's state must survive the worker being killed, and the whole `journeys up` stack being
stopped with Ctrl-C (leaving no process behind) and started again.
"""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.vocabulary.events import CustomerEvent, Stage
from journeys.worker.main import build_worker
from tests.helpers.ports import free_port
from tests.helpers.temporal import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-key"
JOURNEYS = str(Path(sys.executable).parent / "journeys")


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "JOURNEYS_TEMPORAL_ADDRESS": settings.temporal_address,
        "JOURNEYS_TASK_QUEUE": settings.task_queue,
        "JOURNEYS_DATABASE_URL": settings.database_url,
        "JOURNEYS_WRITE_KEYS": KEY,
        "JOURNEYS_LOG_FORMAT": "json",
    }


@pytest.fixture
def settings(dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str) -> Settings:
    address = dev_env.client.service_client.config.target_host
    return Settings(
        temporal_address=address,
        database_url=sqlite_url,
        task_queue=task_queue,
        write_keys=[KEY],
        api_port=free_port(),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api_url(settings: Settings) -> AsyncIterator[str]:
    """The API served by uvicorn on a free loopback port."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.api_port,
        log_config=None,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{settings.api_port}"
    server.should_exit = True
    await task


@pytest.fixture
def worker_process(settings: Settings) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`journeys worker` processes started by the test; all are killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def start_worker(
    settings: Settings, started: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [JOURNEYS, "worker"],
        env=_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started.append(process)
    return process


async def test_state_survives_a_killed_worker(
    api_url: str,
    settings: Settings,
    dev_env: WorkflowEnvironment,
    worker_process: list[subprocess.Popen[bytes]],
) -> None:
    client = dev_env.client
    user = f"u-{uuid.uuid4()}"
    worker = start_worker(settings, worker_process)
    async with httpx.AsyncClient(base_url=api_url, auth=(KEY, "")) as http:
        r = await http.post(
            "/v1/batch",
            json={
                "batch": [
                    {"type": "identify", "userId": user, "traits": {"plan": "pro"}},
                    {
                        "type": "track",
                        "userId": user,
                        "event": "Product Viewed",
                        "properties": {"product_id": "p1"},
                    },
                    {"type": "track", "userId": user, "event": "Checkout Started"},
                ]
            },
        )
        assert r.status_code == 200, r.text
        await wait_for(client, user, lambda s: s.stage == Stage.DECISION)

        worker.kill()  # no graceful shutdown
        worker.wait()
        r = await http.post(
            "/v1/track",
            json={
                "userId": user,
                "event": "Order Completed",
                "properties": {"order_id": "o-1", "total": 20},
            },
        )
        assert r.status_code == 200  # accepted while no worker runs: Temporal holds it

        start_worker(settings, worker_process)
        # the killed worker's activity is retried once its 30 s start-to-close timeout passes
        state = await wait_for(client, user, lambda s: s.events_total == 4, seconds=90)
    assert state.stage == Stage.ONBOARDING
    assert [c.stage for c in state.stage_history][-2:] == [Stage.DECISION, Stage.ONBOARDING]
    query = f'CustomerId="{user}" AND LifecycleStage="onboarding"'
    for _ in range(50):  # visibility is eventually consistent
        if [w async for w in client.list_workflows(query)]:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"no workflow found by {query}")


async def test_continue_as_new_suggested_by_the_server_keeps_every_event(
    settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    """The dev server suggests continue-as-new (by history length or size: here the size, below
    our own 1,000-event threshold); a customer sent 50,000 events at once spans several
    runs, and none is lost or applied twice."""
    client = dev_env.client
    user = f"u-{uuid.uuid4()}"
    now = datetime.now(UTC)
    total, per_signal = 50_000, 500  # 100,000 can outgrow one workflow task: README, Settings
    async with build_worker(client, settings):
        for start in range(0, total, per_signal):
            batch = [
                CustomerEvent(
                    message_id=f"{user}-{i}", type="track", event="Product Viewed", timestamp=now
                )
                for i in range(start, start + per_signal)
            ]
            await deliver(client, task_queue=settings.task_queue, customer_id=user, events=batch)
        # the first thousand again, as a client's retry would send them
        retry = [
            CustomerEvent(
                message_id=f"{user}-{i}", type="track", event="Product Viewed", timestamp=now
            )
            for i in range(total - 1000, total)
        ]
        await deliver(client, task_queue=settings.task_queue, customer_id=user, events=retry)
        # the last batches may land in a run that hands over right after: wait for both
        state = await wait_for(
            client, user, lambda s: s.events_total >= total and s.generation >= 1, seconds=240
        )
    assert state.events_total == total
    assert state.generation >= 1


def _running(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return found.stdout.split()


async def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    async with httpx.AsyncClient() as http:
        while asyncio.get_running_loop().time() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise AssertionError(
                    f"journeys up exited early ({process.returncode}):\n{output[-3000:]}"
                )
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError("journeys up did not become healthy")


async def test_journeys_up_stops_cleanly_on_ctrl_c_and_resumes_customers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ports = {"--api-port": free_port(), "--temporal-port": free_port(), "--ui-port": free_port()}
    args = [JOURNEYS, "up", "--no-demo", "--data-dir", str(data)]
    for flag, port in ports.items():
        args += [flag, str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    api = f"http://127.0.0.1:{ports['--api-port']}"
    user = f"u-{uuid.uuid4()}"

    async def run_once(event: str) -> None:
        process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            await _wait_healthy(api, process)
            key = (data / "write_key").read_text().strip()
            async with httpx.AsyncClient(base_url=api, auth=(key, "")) as http:
                r = await http.post("/v1/track", json={"userId": user, "event": event})
                assert r.status_code == 200, r.text
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, output.decode()[-2000:]
        assert f"Write key    {key}" in output.decode()
        assert _running(str(data / "temporal.db")) == [], "temporal server left running"
        with closing(sqlite3.connect(data / "temporal.db")) as db:  # the write-ahead log
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    await run_once("Product Viewed")
    await run_once("Checkout Started")
    # a third start, to read the customer: both events applied across the restart
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await _wait_healthy(api, process)
        client = await Client.connect(
            f"127.0.0.1:{ports['--temporal-port']}", data_converter=DATA_CONVERTER
        )
        state = await wait_for(client, user, lambda s: s.events_total == 2)
        assert state.stage == Stage.DECISION
        assert [c.stage for c in state.stage_history] == [
            Stage.AWARENESS,
            Stage.CONSIDERATION,
            Stage.DECISION,
        ]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)

"""Exactly one delivery when the worker dies between the provider's acceptance and the ledger.

A real `journeys worker` process runs a journey whose first step is a send. The provider accepts
the message and, before the worker can finish the call and write `sent`, kills the worker
(SIGKILL: no graceful shutdown). The ledger says `sending`. A second worker retries the activity
once its start-to-close timeout has passed (30 s, ACTIVITY_TIMEOUT in workflows/journey.py), the
provider sees the same Idempotency-Key (or Message-ID) again and delivers nothing new.
"""

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_types import JourneyProgress
from tests.helpers.dedup import DedupInbox, idempotent_provider
from tests.helpers.events import event, identify
from tests.helpers.journeys import publish, send
from tests.helpers.smtp import serve

# is, not only the packages the editable install listed when it was made
WORKER = [sys.executable, "-m", "journeys.cli.main", "worker"]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a real `journeys worker`, killed twice

ROOT = Path(__file__).resolve().parents[2]
RETRIED_WITHIN = 120.0  # the 30 s activity timeout, the retry, the sticky queue's timeout, start-up

PUSH = """
name: crash_push
trigger: {event: Crash Test}
steps:
  - {id: nudge, kind: send, channel: push, template: cart_recovery_email}
"""
EMAIL = """
name: crash_email
trigger: {event: Crash Test}
steps:
  - {id: nudge, kind: send, channel: email, template: cart_recovery_email}
"""


class Crash:
    """What the provider runs at the worst moment: SIGKILL the worker, and reap it before the
    provider goes on."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.begun = threading.Event()
        self.done = threading.Event()

    def __call__(self) -> None:
        self.begun.set()
        self.process.kill()
        self.process.wait(timeout=10)
        self.done.set()


class Workers:
    """`journeys worker` processes started by a test, each logging to its own file."""

    def __init__(self, settings: Settings, logs: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
        self.env |= {
            "JOURNEYS_TEMPORAL_ADDRESS": settings.temporal_address,
            "JOURNEYS_TASK_QUEUE": settings.task_queue,
            "JOURNEYS_DATABASE_URL": settings.database_url,
            "JOURNEYS_QUIET_HOURS": "",
            "JOURNEYS_LOG_FORMAT": "json",
            **env,
        }
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.started) + 1}.log").open("wb") as log:
            process = subprocess.Popen(
                WORKER, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.started.append(process)
        return process

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("worker-*.log"))
        )

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def settings(dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str) -> Settings:
    address = dev_env.client.service_client.config.target_host
    return Settings(
        temporal_address=address, database_url=sqlite_url, task_queue=task_queue, quiet_hours=""
    )


def _ledger(settings: Settings, cid: str) -> list[tuple[str, str]]:
    with session_scope(settings.database_url) as session:
        return [(m.channel, m.status) for m in customer_messages(session, customer_ids=[cid])]


async def _crashed(crash: Crash, workers: Workers, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not crash.done.is_set():
        assert asyncio.get_running_loop().time() < deadline, (
            f"the provider never saw the send\n{workers.output()}"
        )
        if not crash.begun.is_set():
            assert crash.process.poll() is None, f"the worker exited\n{workers.output()}"
        await asyncio.sleep(0.05)


async def _result(handle: WorkflowHandle[Any, Any], workers: Workers) -> JourneyProgress:
    """The run's result; fails at once, with the logs, if the worker serving it exits."""
    result = asyncio.ensure_future(handle.result())
    deadline = asyncio.get_running_loop().time() + RETRIED_WITHIN
    try:
        while not result.done():
            assert workers.started[-1].poll() is None, f"the worker exited\n{workers.output()}"
            if asyncio.get_running_loop().time() > deadline:
                pending = (await handle.describe()).raw_description.pending_activities
                raise AssertionError(
                    f"the journey run did not finish; pending: {pending}\n{workers.output()}"
                )
            await asyncio.wait([result], timeout=0.2)
        return JourneyProgress.model_validate(result.result())
    finally:
        result.cancel()


async def _delivery_attempts(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The attempt that settled each `deliver_message` the run scheduled (retries are the
    server's: one scheduled event per send, whatever the attempts)."""
    history = await handle.fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "deliver_message"
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


def _steps_recorded(settings: Settings, run_id: str) -> list[tuple[str, str | None, str]]:
    with session_scope(settings.database_url) as session:
        return [(e.kind, e.step, e.detail) for e in journey_events(session, workflow_id=run_id)]


async def test_a_worker_killed_after_the_http_provider_accepted_delivers_once(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    client, catalog = dev_env.client, publish(settings, PUSH)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("crash_push", cid, 1)
    with idempotent_provider() as provider:
        workers = Workers(settings, tmp_path, JOURNEYS_PUSH_PROVIDER_URL=provider.url)
        try:
            provider.crash = crash = Crash(workers.start())
            await send(client, settings, cid, event("Crash Test"), catalog=catalog)
            await _crashed(crash, workers)
            # accepted and delivered, and the worker is gone before it could say so
            assert len(provider.delivered) == 1
            assert _ledger(settings, cid) == [("push", "sending")]

            workers.start()
            handle = client.get_workflow_handle(run_id)
            done = await _result(handle, workers)
        finally:
            workers.stop()
    keys = [r["key"] for r in provider.requests]
    assert len(keys) == 2 and keys[0] == keys[1] == f"{run_id}:nudge:1"
    assert [r["replayed"] for r in provider.requests] == [False, True]  # the first answer, again
    assert provider.delivered == [provider.requests[0]["json"]]
    assert provider.delivered[0]["external_id"] == cid
    assert _ledger(settings, cid) == [("push", "sent")]
    assert [(s.step, s.result) for s in done.steps] == [("nudge", "push sent")]
    assert done.outcome == "completed"
    assert _steps_recorded(settings, run_id) == [
        ("entered", None, "v1"),
        ("step", "nudge", "push sent"),
        ("completed", None, "nudge"),
    ]
    assert await _delivery_attempts(handle) == [2]


async def test_a_worker_killed_after_the_smtp_server_accepted_delivers_once(
    dev_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    client, catalog = dev_env.client, publish(settings, EMAIL)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("crash_email", cid, 1)
    inbox = DedupInbox()
    with serve(inbox) as (_, port):  # type: ignore[arg-type]  (serve takes any aiosmtpd handler)
        workers = Workers(settings, tmp_path, JOURNEYS_SMTP_HOST="127.0.0.1",
                          JOURNEYS_SMTP_PORT=str(port))  # fmt: skip
        try:
            inbox.crash = crash = Crash(workers.start())
            await send(client, settings, cid, identify(email="ann@example.test"),
                       event("Crash Test"), catalog=catalog)  # fmt: skip
            await _crashed(crash, workers)
            assert len(inbox.delivered) == 1
            assert _ledger(settings, cid) == [("email", "sending")]

            workers.start()
            handle = client.get_workflow_handle(run_id)
            done = await _result(handle, workers)
        finally:
            workers.stop()
    assert len(inbox.received) == 2 and inbox.received[0] == inbox.received[1]
    assert [m["To"] for m in inbox.delivered] == ["ann@example.test"]
    assert inbox.delivered[0]["Message-ID"] == inbox.received[0]
    assert _ledger(settings, cid) == [("email", "sent")]
    assert [(s.step, s.result) for s in done.steps] == [("nudge", "email sent")]
    assert _steps_recorded(settings, run_id) == [
        ("entered", None, "v1"),
        ("step", "nudge", "email sent"),
        ("completed", None, "nudge"),
    ]
    assert await _delivery_attempts(handle) == [2]

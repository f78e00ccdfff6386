"""`journeys inspect`: an operator's one page on a customer, after a real cart-recovery run
(time-skipping server, real SMTP): stages, the run's steps, each message with its outcome and
reason, and the live state from the customer's workflow."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.events import event, identify
from tests.helpers.journeys import finished, publish_shipped, send, until_progress
from tests.helpers.smtp import Inbox, settings_for
from tests.helpers.temporal import wait_for


@pytest.fixture
def settings(inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str) -> Settings:
    return settings_for(sqlite_url, inbox[1]).model_copy(update={"task_queue": task_queue})


@pytest.fixture
def catalog(settings: Settings) -> int:
    return publish_shipped(settings.database_url)


async def journeys(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, while this process's worker goes on answering queries."""
    cli = Path(sys.executable).with_name("journeys")
    env = {**os.environ, "JOURNEYS_DATABASE_URL": settings.database_url}
    process = await asyncio.create_subprocess_exec(
        str(cli), *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return subprocess.CompletedProcess(args, process.returncode or 0, out.decode(), err.decode())


@pytest.mark.slow
async def test_inspect_tells_what_a_customer_got_and_why(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="ann@example.test"),
                   event("Checkout Started"), catalog=catalog)  # fmt: skip
        await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
        run = client.get_workflow_handle(journey_workflow_id("cart_recovery", cid, 1))
        scheduled = [e for e in (await run.fetch_history()).events
                     if e.HasField("activity_task_scheduled_event_attributes")]  # fmt: skip
        summaries = [await client.data_converter.decode([e.user_metadata.summary], [str])
                     for e in scheduled if e.HasField("user_metadata")]  # fmt: skip
        address = client.service_client.config.target_host
        done = await journeys(settings, "inspect", cid, "--address", address, "--json")
        text = await journeys(settings, "inspect", cid, "--address", address)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    outcomes = {(m["step"], m["channel"]): (m["status"], m["reason"]) for m in report["messages"]}
    assert outcomes[("email", "email")] == ("sent", "")
    assert outcomes[("sms", "sms")] == ("skipped", "not opted in to offers on sms")
    [run] = [r for r in report["runs"] if r["journey"] == "cart_recovery"]
    assert [s["step"] for s in run["steps"]][:3] == ["grace", "popover", "picks"]
    moves = [(s["from"], s["to"]) for s in report["stages"]]
    assert (None, "awareness") in moves and ("awareness", "decision") in moves
    assert report["workflow"]["events_total"] == 2
    assert "ann@example.test" not in done.stdout  # traits stay in the store
    # what the Temporal UI shows on each activity: what it does, never the address
    assert ["email cart_recovery_email at step email of cart_recovery"] in summaries
    assert not any("ann@example.test" in summary[0] for summary in summaries)
    assert "sms cart_recovery_sms: skipped (not opted in to offers on sms)" in text.stdout
    missing = await journeys(settings, "inspect", "nobody", "--address", address)
    assert missing.returncode == 1 and "no customer 'nobody'" in missing.stderr


@pytest.mark.slow
async def test_inspect_shows_a_run_held_in_its_first_wait(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """Cart recovery's first step is an hour's wait, held by the customer: no run workflow
    yet, but the customer is in the journey, and inspect says until when it is held."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.held)
        address = client.service_client.config.target_host
        done = await journeys(settings, "inspect", cid, "--address", address, "--json")
        text = await journeys(settings, "inspect", cid, "--address", address)
    until = state.journeys.held["cart_recovery"].until
    assert json.loads(done.stdout)["workflow"]["held_journeys"] == {
        "cart_recovery": until.isoformat()
    }
    assert f"cart_recovery (held: starts {until.isoformat()[:19]})" in text.stdout


@pytest.mark.slow
async def test_inspect_says_where_a_running_run_waits_and_until_when(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """The welcome run sent its greeting and email and waits half an hour at `settle`: its
    records end at the email, so inspect asks the run itself, as the Temporal UI does."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("welcome", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="bo@example.test"), event("page"),
                   catalog=catalog)  # fmt: skip
        await until_progress(client, run_id, lambda p: p.current_step == "settle")
        waiting_since = await skipping_env.get_current_time()
        address = client.service_client.config.target_host
        done = await journeys(settings, "inspect", cid, "--address", address, "--json")
        text = await journeys(settings, "inspect", cid, "--address", address)
    now = json.loads(done.stdout)["workflow"]["runs_now"][run_id]
    assert now.startswith("step settle, until ")
    until = datetime.strptime(now.removeprefix("step settle, until "), "%Y-%m-%d %H:%M UTC")
    expected = (waiting_since + timedelta(minutes=30)).replace(tzinfo=None)
    assert abs(until - expected) <= timedelta(minutes=1)
    assert f"{run_id} (v1): running, now: {now}" in text.stdout

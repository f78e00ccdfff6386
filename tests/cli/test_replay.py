"""`journeys replay` against a running server (local dev server): the histories of this code
replay (exit 0); a history written by different workflow code is named with its mismatch
(exit 1)."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.vocabulary.journey_types import JourneyInput
from journeys.worker.main import build_worker
from tests.helpers.events import track
from tests.helpers.replay import ChangedJourneyWorkflow
from tests.helpers.temporal import wait_for


def journeys(*args: str) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("journeys")
    return subprocess.run([str(cli), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
async def test_replay_passes_current_histories_and_names_a_mismatch(
    dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    client, cid = dev_env.client, f"c-{uuid.uuid4()}"
    address = client.service_client.config.target_host
    settings = Settings(database_url=sqlite_url, task_queue=task_queue)
    async with build_worker(client, settings):
        await deliver(client, task_queue=task_queue, customer_id=cid,
                      events=[track("Product Viewed"), track("Checkout Started")])  # fmt: skip
        await wait_for(client, cid, lambda s: s.events_total == 2)
    done = journeys("replay", "--address", address, "--query", f'WorkflowId="customer-{cid}"')
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed 1 histories: 0 failed" in done.stdout

    other = f"changed-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[ChangedJourneyWorkflow]):
        await client.execute_workflow(
            "JourneyWorkflow", JourneyInput(customer_id=cid, name="x", version=1, run=1),
            id=other, task_queue=task_queue,
        )  # fmt: skip
    done = journeys("replay", "--address", address, "--query", f'WorkflowId="{other}"')
    assert done.returncode == 1
    assert f"{other}: " in done.stdout and "Nondeterminism" in done.stdout
    assert "replayed 1 histories: 1 failed" in done.stdout

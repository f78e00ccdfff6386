"""Metrics for Prometheus: the API's /metrics (admin key) counts ingested events; a worker
process serves our counters (messages by channel and outcome, journey runs) on
JOURNEYS_WORKER_METRICS_PORT and the Temporal SDK's runtime metrics on
JOURNEYS_TEMPORAL_METRICS_PORT (local dev server)."""

import asyncio
import re
import uuid

import httpx
from prometheus_client import generate_latest
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import run_worker
from tests.helpers.events import track
from tests.helpers.journeys import publish
from tests.helpers.ports import free_port
from tests.helpers.temporal import wait_for

ADMIN = {"Authorization": "Bearer admin-key"}
NUDGE = """
name: nudge
trigger: {event: Product Viewed}
steps:
  - {id: push, kind: send, channel: push, template: usage_nudge}
"""


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = (
        rf"^{name}(?:\{{{re.escape(wanted)}\}})? ([0-9.e+-]+)$"
        if wanted
        else rf"^{name} ([0-9.e+-]+)$"
    )
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_the_api_counts_ingested_events(dev_env: WorkflowEnvironment, sqlite_url: str,
                                              task_queue: str) -> None:  # fmt: skip
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, admin_key="admin-key",
                        write_keys=["w"])  # fmt: skip
    app = create_app(settings, client=dev_env.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        assert (await c.get("/metrics")).status_code == 401
        before = sample(
            (await c.get("/metrics", headers=ADMIN)).text, "journeys_events_ingested_total"
        )
        for _ in range(3):
            call = {"userId": f"m-{uuid.uuid4()}", "event": "Product Viewed"}
            r = await c.post("/v1/track", auth=("w", ""), json=call)
            assert r.status_code == 200
        after = sample(
            (await c.get("/metrics", headers=ADMIN)).text, "journeys_events_ingested_total"
        )
    assert after - before == 3


async def test_a_worker_serves_our_counters_and_the_sdk_metrics(
    dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    ours, sdk = free_port(), free_port()
    settings = Settings(
        database_url=sqlite_url, task_queue=task_queue, quiet_hours="",
        temporal_address=dev_env.client.service_client.config.target_host,
        worker_metrics_port=ours, temporal_metrics_port=sdk,
    )  # fmt: skip
    catalog = publish(settings, NUDGE)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    cid = f"c-{uuid.uuid4()}"
    before = generate_latest().decode()  # the process's: other tests here may have counted
    try:
        async with httpx.AsyncClient() as http:
            await deliver(dev_env.client, task_queue=task_queue, customer_id=cid,
                          events=[track("Product Viewed")], catalog_version=catalog)  # fmt: skip
            await wait_for(dev_env.client, cid, lambda s: "nudge" in s.journeys.entries)
            run = dev_env.client.get_workflow_handle(journey_workflow_id("nudge", cid, 1))
            await asyncio.wait_for(run.result(), timeout=120)
            text = (await http.get(f"http://127.0.0.1:{ours}/metrics")).text
            runtime = (await http.get(f"http://127.0.0.1:{sdk}/metrics")).text
    finally:
        stop.set()
        await worker

    def counted(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert counted("journeys_journey_runs_total", journey="nudge", kind="entered") == 1
    assert counted("journeys_journey_runs_total", journey="nudge", kind="completed") == 1
    assert counted("journeys_messages_total", channel="push", outcome="queued") == 1
    assert "temporal_workflow_task" in runtime or "temporal_request" in runtime, runtime[:500]

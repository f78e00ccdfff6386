"""A provider's rate limit holds across the whole task queue: sends on a limited channel are
spread out by Temporal, whatever the number of journeys asking at once (local dev server)."""

import asyncio
import time
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.http import provider
from tests.helpers.journeys import publish, send

NUDGE = """
name: nudge
trigger: {event: Product Viewed}
steps:
  - {id: push, kind: send, channel: push, template: usage_nudge}
"""


@pytest.mark.slow
async def test_push_sends_are_held_to_the_provider_rate(
    dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    with provider() as push:
        settings = Settings(database_url=sqlite_url, task_queue=task_queue, quiet_hours="",
                            push_provider_url=push.url, rate_limits="push:2")  # fmt: skip
        catalog = publish(settings, NUDGE)
        async with build_worker(dev_env.client, settings):
            await asyncio.gather(*(
                send(dev_env.client, settings, f"c-{uuid.uuid4()}", event("Product Viewed"),
                     catalog=catalog)
                for _ in range(6)
            ))  # fmt: skip
            deadline = time.monotonic() + 60
            while len(push.requests) < 6 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
    times = sorted(r["at"] for r in push.requests)
    assert len(times) == 6
    # 2 a second: a burst of at most 2, then one every half second
    assert times[-1] - times[0] >= 1.5, [round(t - times[0], 2) for t in times]

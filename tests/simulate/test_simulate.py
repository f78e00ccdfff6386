"""`journeys simulate`: synthetic shoppers as a log (a backtest's input) or sent to a running
stack, each call accepted once."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from temporalio.testing import WorkflowEnvironment

from journeys.api.schemas import SegmentCall
from journeys.config.settings import Settings
from journeys.config.tracking_plan import load_tracking_plan
from journeys.simulate.personas import PERSONAS, simulated_calls
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.models import Event
from journeys.worker.main import build_worker
from tests.helpers.api_process import api_process
from tests.helpers.temporal import wait_for

START = datetime(2025, 1, 1, tzinfo=UTC)


def simulate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    return subprocess.run(
        [sys.executable, "-m", "journeys.cli.main", "simulate", *args],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
    )  # fmt: skip


def test_shoppers_are_valid_planned_calls_in_time_order_the_same_for_a_seed():
    calls = list(simulated_calls(300, start=START, days=60, seed=7))
    assert calls == list(simulated_calls(300, start=START, days=60, seed=7))
    assert calls != list(simulated_calls(300, start=START, days=60, seed=8))
    stamps = [c["timestamp"] for c in calls]
    assert stamps == sorted(stamps) and stamps[-1] < "2025-03-02"
    plan = load_tracking_plan(None)
    for call in calls:
        parsed = SegmentCall.model_validate(call)  # what the API takes
        name = parsed.event or parsed.type
        assert name in plan.events, name
        assert set(parsed.properties) <= set(plan.events[name]) | {"path"}, (name, parsed)
    assert len({c["messageId"] for c in calls}) == len(calls)
    # each persona shows up, and their stories differ as the personas say
    personas = {c["traits"]["persona"] for c in calls if c["type"] == "identify"}
    assert personas >= {p for p, _ in PERSONAS} - {"browser"}  # browsers sign up now and then
    events = Counter(c.get("event") for c in calls)
    assert events["Checkout Started"] > events["Order Completed"] > events["Order Refunded"] > 0
    assert events["NPS Submitted"] > 0 and events["Application Opened"] > 0
    # a shopper browses anonymously, then identifies with both ids (the history joins up)
    story = defaultdict(list)
    for call in calls:
        story[call["messageId"].rsplit("-", 1)[0]].append(call)
    for calls_of_one in story.values():
        ids = [("userId" in c, c["type"] == "identify") for c in calls_of_one]
        if (True, True) in ids:
            first_known = ids.index((True, True))
            assert not any(known for known, _ in ids[:first_known])
            assert "anonymousId" in calls_of_one[first_known]


def test_a_simulated_log_is_written_and_bad_flags_are_refused(tmp_path):
    out = tmp_path / "shop.ndjson"
    done = simulate("--customers", "50", "--days", "20", "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert f"{len(lines)} calls of 50 customers" in done.stderr
    assert all(SegmentCall.model_validate(json.loads(line)) for line in lines)
    for bad in (["--customers", "0"], ["--customers", "5", "--rate", "-1"]):
        refused = simulate(*bad, "--output", str(out))
        assert refused.returncode == 2 and "error: argument" in refused.stderr
    nowhere = simulate("--customers", "5", "--url", "http://127.0.0.1:9", "--write-key", "k")
    assert nowhere.returncode == 1 and "no API at http://127.0.0.1:9" in nowhere.stderr
    keyless = simulate("--customers", "5", cwd=tmp_path)
    assert keyless.returncode == 1 and "--write-key" in keyless.stderr
    # beside a `journeys up` (its folder, .journeys/), the key it made and printed is used
    (tmp_path / ".journeys").mkdir()
    (tmp_path / ".journeys" / "write_key").write_text("made-by-up\n")
    beside_up = simulate("--customers", "5", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert beside_up.returncode == 1 and "no API at http://127.0.0.1:9" in beside_up.stderr


@pytest.mark.slow
async def test_simulated_shoppers_reach_a_running_stack_each_call_once(
    dev_env: WorkflowEnvironment, tmp_path
):
    url = f"sqlite:///{tmp_path / 'journeys.db'}"
    upgrade_schema(url)
    queue = f"simulate-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url=url, task_queue=queue, write_keys=["sim-key"])
    address = dev_env.client.service_client.config.target_host
    env = {"JOURNEYS_TEMPORAL_ADDRESS": address, "JOURNEYS_DATABASE_URL": url,
           "JOURNEYS_WRITE_KEYS": "sim-key", "JOURNEYS_TASK_QUEUE": queue}  # fmt: skip
    async with build_worker(dev_env.client, settings):
        with api_process(env, tmp_path / "api.log") as api:
            done = await asyncio.to_thread(
                simulate, "--customers", "12", "--rate", "200", "--url", api,
                "--write-key", "sim-key",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            sent = int(done.stderr.split(" calls in ")[0].rsplit(" ", 1)[1])
            assert f"{sent} accepted, 0 refused, 0 given up" in done.stderr
            with session_scope(url) as session:
                stored = session.exec(
                    select(func.count()).where(col(Event.delivered_at).is_not(None))
                ).one()
            assert stored == sent
            expected = list(simulated_calls(12, start=START, days=3650, seed=1))
            orders = Counter(c["userId"] for c in expected if c.get("event") == "Order Completed")
            buyer, count = orders.most_common(1)[0]
            state = await wait_for(
                dev_env.client, buyer,
                lambda s: s.event_counts.get("Order Completed") == count, seconds=60,
            )  # fmt: skip
            assert state.stage.value in ("onboarding", "loyalty", "advocacy")

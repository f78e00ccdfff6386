"""The `decide` step (next best action) on the time-skipping server: eligible actions only,
Thompson sampling that follows the evidence, and every decision recorded with its inputs."""

import uuid
from datetime import UTC, datetime

from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.decisions import decision_stats, decisions
from journeys.store.models import Decision, JourneyEvent
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.journeys import finished, publish, send
from tests.helpers.temporal import wait_for

OFFER = """
name: offer
trigger: {event: Product Viewed}
goal: {event: Order Completed}
steps:
  - id: pick
    kind: decide
    actions:
      - {name: ten_off, goto: ten_off, value: 10}
      - {name: free_shipping, goto: free_shipping, value: 10}
      - {name: gold_gift, goto: gold_gift, value: 10, when: 'traits.tier == "gold"'}
  - {id: ten_off, kind: wait, duration: 1d, next: done}
  - {id: free_shipping, kind: wait, duration: 1d, next: done}
  - {id: gold_gift, kind: wait, duration: 1d, next: done}
  - {id: done, kind: exit, reason: offered}
"""


def seed_history(url: str) -> None:
    """100 past decisions each, their runs ended: ten_off converted 60 times, free_shipping 5."""
    at = datetime(2026, 10, 1, tzinfo=UTC)
    with session_scope(url) as session:
        for action, wins in (("ten_off", 60), ("free_shipping", 5)):
            for i in range(100):
                run = f"past-{action}-{i}"
                session.add(Decision(decision_id=f"{run}:pick:1", workflow_id=run,
                                     customer_id=f"p{i}", journey="offer", version=1,
                                     step="pick", chosen=action, inputs={}, at=at))  # fmt: skip
                session.add(JourneyEvent(key=f"{run}:9", workflow_id=run, seq=9,
                                         customer_id=f"p{i}", journey="offer", version=1,
                                         kind="converted" if i < wins else "exited",
                                         at=at))  # fmt: skip


async def test_decide_follows_the_evidence_and_records_why(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    client, catalog = skipping_env.client, publish(settings, OFFER)
    seed_history(settings.database_url)
    customers = [f"c-{uuid.uuid4()}" for _ in range(8)]
    gold = customers[0]
    with session_scope(settings.database_url) as session:
        upsert_traits(session, customer_id=gold, traits={"tier": "gold", "predicted_clv": 120})
    async with build_worker(client, settings):
        for cid in customers:
            await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        for cid in customers:
            await wait_for(client, cid, lambda s: "offer" in s.journeys.entries)
        runs = {cid: await finished(skipping_env, journey_workflow_id("offer", cid, 1))
                for cid in customers}  # fmt: skip
    chosen = {cid: run.steps[0].result for cid, run in runs.items()}
    others = [chosen[c] for c in customers[1:]]
    assert "action gold_gift" not in others  # not eligible without the gold tier
    assert others.count("action ten_off") == len(others)  # 60% beats 5% every time
    with session_scope(settings.database_url) as session:
        mine = {
            d.customer_id: d
            for d in decisions(session, journey="offer")
            if d.customer_id in customers
        }
        stats = decision_stats(session, journey="offer", step="pick")
    assert set(mine) == set(customers)
    record = mine[gold].inputs
    assert record["eligible"] == ["ten_off", "free_shipping", "gold_gift"]
    assert record["clv"] == 120 and record["stats"]["ten_off"]["conversions"] == 60
    assert record["stats"]["ten_off"]["exposures"] >= 100  # others may have decided first
    for name, sample in record["samples"].items():  # expected value = draw x (value + CLV)
        assert record["expected"][name] == sample * (10 + 120)
    assert mine[gold].chosen == max(record["expected"], key=record["expected"].get)
    assert stats["ten_off"].exposures >= 100 + len(others) - 1

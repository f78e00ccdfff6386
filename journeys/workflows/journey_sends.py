"""The steps of a journey run that reach the customer: `send` (quiet hours, the ledger, the
channel's rate-limited task queue, the fallback) and `recommend` (products for later sends).

A mixin of JourneyWorkflow, kept apart so the interpreter stays readable; it uses the run's
state (input, last event, products, visits, policy, outcome) and its durable `_sleep`.
"""

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import (
        DELIVER_MESSAGE,
        DELIVERY_POLICY,
        QUEUE_MESSAGE,
        RECOMMEND_PRODUCTS,
    )
    from journeys.vocabulary.events import CustomerEvent
    from journeys.vocabulary.ids import channel_task_queue
    from journeys.vocabulary.journey_spec import Recommend, Send
    from journeys.vocabulary.journey_types import (
        DeliveryPolicy,
        DeliveryResult,
        JourneyInput,
        OperatorCommand,
        Outcome,
        QueueMessageInput,
    )
    from journeys.vocabulary.local_time import quiet_wait, zone_or
    from journeys.vocabulary.recommendation_types import RecommendInput

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# `send` delivers through channel providers (with a ledger) instead of only queueing.
DELIVERY_PATCH = "deliver-messages"
# Sends wait out the customer's quiet hours (local time) as a durable timer.
QUIET_HOURS_PATCH = "quiet-hours"
# Sends through a provider run on the channel's task queue (rate-limited per provider), with
# a timeout above the slowest provider and heartbeats that reveal a dead worker.
CHANNEL_QUEUES_PATCH = "channel-task-queues"
PROVIDER_CHANNELS = ("email", "sms", "push", "webhook")
SEND_TIMEOUT = timedelta(minutes=2)
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=20)


def seed_products(properties: dict[str, Any]) -> list[str]:
    """The products an event is about: `product_id`, or the ids in `products` (Segment's
    e-commerce spec)."""
    seeds = [str(properties["product_id"])] if properties.get("product_id") else []
    for item in properties.get("products") or []:
        if isinstance(item, dict) and item.get("product_id"):
            seeds.append(str(item["product_id"]))
    return list(dict.fromkeys(seeds))


class SendSteps:
    input: JourneyInput
    last_event: CustomerEvent | None
    outcome: Outcome | None
    visits: dict[str, int]
    policy: DeliveryPolicy | None
    products: dict[str, list[dict[str, Any]]]

    async def _sleep(self, duration: timedelta) -> None:
        raise NotImplementedError

    async def _traits(self) -> dict[str, Any]:
        raise NotImplementedError

    paused: OperatorCommand | None

    async def _wait_while_paused(self) -> None:
        raise NotImplementedError

    async def _send(self, step: Send) -> str:
        """Deliver on the step's channel, then on its fallback if the first could not deliver
        (a permanent failure, or no address). Runs recorded before delivery existed queued
        the message instead, and replay keeps them doing so."""
        key = f"{workflow.info().workflow_id}:{step.id}:{self.visits[step.id]}"
        message = QueueMessageInput(
            idempotency_key=key,
            customer_id=self.input.customer_id,
            journey=self.input.name,
            step=step.id,
            channel=step.channel,
            template=step.template,
            fallback=step.fallback,
            context={"properties": self.last_event.properties if self.last_event else {}},
        )
        if self.products:  # the latest `recommend` results, or those it saved as `products`
            products = self.products.get("products") or list(self.products.values())[-1]
            message.context["products"] = products
        if message.channel in await self._quiet_channels():
            held = await self._hold_for_quiet_hours()
            if held and self.outcome is not None:
                return f"{step.channel} not sent: {self.outcome} during quiet hours"
        if self.paused is not None:  # paused while quiet hours held the message back
            await self._wait_while_paused()
            if self.outcome is not None:
                return f"{step.channel} not sent: {self.outcome} while paused"
        if not workflow.patched(DELIVERY_PATCH):
            await QUEUE_MESSAGE.run(message, start_to_close_timeout=ACTIVITY_TIMEOUT)
            return step.channel
        outcome = await self._deliver(message)
        if step.fallback and outcome.allows_fallback:
            fallback = message.model_copy(
                update={"idempotency_key": f"{key}:fallback", "channel": step.fallback}
            )
            second = await self._deliver(fallback)
            first = f"{step.channel} {outcome.status} ({outcome.reason})"
            return f"{first}; {step.fallback} {second.status}"
        settled = outcome.status in ("failed", "skipped") and outcome.reason
        return f"{step.channel} {outcome.status}" + (f" ({outcome.reason})" if settled else "")

    async def _recommend(self, step: Recommend) -> str:
        """Products for the sends that follow, seeded by what the last event is about (the
        viewed product, the cart's products). The activity never fails for lack of data: a
        customer without history gets the fallback, and the result says so."""
        found = await RECOMMEND_PRODUCTS.run(
            RecommendInput(
                customer_id=self.input.customer_id,
                kind=step.recommender,
                count=step.count,
                product_ids=seed_products(self.last_event.properties if self.last_event else {}),
            ),  # fmt: skip
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"recommend {step.count} {step.recommender} products",
        )
        self.products.pop(step.save_as, None)  # keeps "the latest" last
        self.products[step.save_as] = [p.model_dump() for p in found.products]
        fallback = f" ({found.fallback})" if found.fallback else ""
        return f"{len(found.products)} products from {step.recommender}{fallback}"

    async def _quiet_channels(self) -> list[str]:
        """The channels quiet hours hold back ([] for runs recorded before quiet hours)."""
        if not workflow.patched(QUIET_HOURS_PATCH):
            return []
        if self.policy is None:
            self.policy = await DELIVERY_POLICY.run(start_to_close_timeout=ACTIVITY_TIMEOUT)
        return self.policy.quiet_channels if self.policy.quiet_start else []

    async def _hold_for_quiet_hours(self) -> bool:
        """Wait, as a durable timer a goal or exit can cut short, until the customer's quiet
        hours are over. True when it waited."""
        assert self.policy and self.policy.quiet_start and self.policy.quiet_end
        traits = await self._traits()
        zone = zone_or(traits.get("timezone"), "UTC")
        wait = quiet_wait(workflow.now(), zone, self.policy.quiet_start, self.policy.quiet_end)
        if wait <= timedelta(0):
            return False
        workflow.set_current_details(
            f"{self.input.name} v{self.input.version}: quiet hours, sending in {wait}"
        )
        await self._sleep(wait)
        return True

    async def _deliver(self, message: QueueMessageInput) -> DeliveryResult:
        retry = RetryPolicy(maximum_interval=timedelta(minutes=10))
        if message.channel not in PROVIDER_CHANNELS or not workflow.patched(CHANNEL_QUEUES_PATCH):
            return await DELIVER_MESSAGE.run(  # and runs recorded before
                message,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=retry,
                summary=_send_summary(message),
            )
        # On the channel's queue. Long enough for a slow provider (SMTP allows 20 s a step), so
        # no second attempt starts while the first still sends; heartbeats every 5 s tell a
        # dead worker apart within 20 s.
        return await DELIVER_MESSAGE.run(
            message,
            task_queue=channel_task_queue(workflow.info().task_queue, message.channel),
            start_to_close_timeout=SEND_TIMEOUT,
            heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT,
            retry_policy=retry,
            summary=_send_summary(message),
        )


def _send_summary(message: QueueMessageInput) -> str:
    """What the Temporal UI shows on the activity: channel, template and step, no address."""
    return f"{message.channel} {message.template} at step {message.step} of {message.journey}"

"""The steps that reach the customer: `send` (quiet hours, the send ledger, the channel's
rate-limited task queue, the fallback channel) and `recommend` (products for the sends that
follow)."""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import exceptions, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import (
        DELIVER_MESSAGE,
        DELIVERY_POLICY,
        GIVE_UP_MESSAGE,
        RECOMMEND_PRODUCTS,
    )
    from journeys.vocabulary.ids import PROVIDER_CHANNELS, channel_task_queue
    from journeys.vocabulary.journey_spec import Branch, Decide, Recommend, Send
    from journeys.vocabulary.journey_types import (
        BranchAhead,
        DeliveryPolicy,
        DeliveryResult,
        GiveUpInput,
        QueueMessageInput,
    )
    from journeys.vocabulary.local_time import quiet_wait, utc_minute, zone_or
    from journeys.vocabulary.recommendation_types import RecommendInput
    from journeys.workflows.steps.run import ACTIVITY_TIMEOUT, JourneyRun

# Long enough for a slow provider (SMTP allows 20 s a step), so no second attempt starts while
# the first still sends; heartbeats every 5 s tell a dead worker apart within 20 s.
SEND_TIMEOUT = timedelta(minutes=2)
SEND_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
# A message still not out after a provider outage this long is stale ("your cart is waiting" a
# week later): the send stops retrying and the step records it failed
SEND_DEADLINE = timedelta(days=1)


def seed_products(properties: dict[str, Any]) -> list[str]:
    """The products an event is about: `product_id`, or the ids in `products` (Segment's
    e-commerce spec)."""
    seeds = [str(properties["product_id"])] if properties.get("product_id") else []
    for item in properties.get("products") or []:
        if isinstance(item, dict) and item.get("product_id"):
            seeds.append(str(item["product_id"]))
    return list(dict.fromkeys(seeds))


class Sends:
    def __init__(self, run: JourneyRun) -> None:
        self.run = run
        # the customer's, given at entry; asked once per run, at the first send, without it
        self.policy: DeliveryPolicy | None = None
        self.products: dict[str, list[dict[str, Any]]] = {}  # recommend steps' `save_as`
        # the send checks quiet hours and records its step itself (the run decides at its start,
        # by the patch `send_in_one_activity`); else a local activity does each
        self.in_one_activity = False

    async def send(self, step: Send) -> str:
        """Deliver on the step's channel, then on its fallback if the first could not deliver
        (a permanent failure, or no address)."""
        run = self.run
        key = run.visit_id(step.id)
        message = QueueMessageInput(
            idempotency_key=key,
            customer_id=run.input.customer_id,
            journey=run.input.name,
            step=step.id,
            channel=step.channel,
            template=step.template,
            fallback=step.fallback,
            context={"properties": run.last_event.properties if run.last_event else {}},
            held_out=bool(run.input.held_out),
            profile_wanted=self._next_reads_profile(step),
        )
        if self.products:  # the latest `recommend` results, or those it saved as `products`
            products = self.products.get("products") or list(self.products.values())[-1]
            message.context["products"] = products
        if self.in_one_activity:
            return await self._send_in_one_activity(step, message)
        if message.channel in await self._quiet_channels():
            held = await self._hold_for_quiet_hours()
            if held and run.outcome is not None:
                return f"{step.channel} not sent: {run.outcome} during quiet hours"
        if run.paused is not None:  # paused while quiet hours held the message back
            await run.wait_while_paused()
            if run.outcome is not None:
                return f"{step.channel} not sent: {run.outcome} while paused"
        outcome = await self._deliver(message)
        if step.fallback and outcome.allows_fallback and run.outcome is None:
            fallback = message.model_copy(
                update={"idempotency_key": f"{key}:fallback", "channel": step.fallback}
            )
            second = await self._deliver(fallback)
            first = f"{step.channel} {outcome.status} ({outcome.reason})"
            return f"{first}; {step.fallback} {second.status}"
        return outcome.describe(step.channel)

    def _next_reads_profile(self, step: Send) -> bool:
        """Whether the step after this send reads the customer's profile (`JourneyRun.context`)."""
        spec = self.run.spec
        if spec is None or (after := spec.after(step.id)) is None:
            return False
        return isinstance(spec.step(after), (Branch, Decide))

    def _branch_ahead(self, step_id: str) -> BranchAhead | None:
        """The branch right after this send, for the send to take: the run goes on past it
        with nothing to write (none when the next step is not a branch)."""
        run, spec = self.run, self.run.spec
        after = spec.after(step_id) if spec is not None else None
        if spec is None or after is None or not isinstance(branch := spec.step(after), Branch):
            return None
        return BranchAhead(
            conditions=[case.when for case in branch.cases],
            context=run.event_context(run.last_event),
            record=run.step_record(after, "", ahead=1),
        )

    async def _send_in_one_activity(self, step: Send, message: QueueMessageInput) -> str:
        """`send` where the delivery activity itself holds the message through the customer's
        quiet hours (the run then sleeps and asks again) and writes the step's record: no local
        activity before the send, none after it."""
        outcome = await self._deliver_checked(step.id, message, detail="")
        if isinstance(outcome, str):
            return outcome
        if outcome.takes_fallback(step.fallback) and self.run.outcome is None:
            assert step.fallback is not None
            first = outcome.describe(step.channel)
            fallback = message.model_copy(update={
                "idempotency_key": f"{message.idempotency_key}:fallback",
                "channel": step.fallback, "fallback": None,
            })  # fmt: skip
            second = await self._deliver_checked(step.id, fallback, detail=f"{first}; ")
            return f"{first}; " + (
                second if isinstance(second, str) else second.describe(step.fallback)
            )
        return outcome.describe(step.channel)

    async def _deliver_checked(
        self, step_id: str, message: QueueMessageInput, detail: str
    ) -> DeliveryResult | str:
        """Deliver, sleeping through quiet hours as often as the activity says they hold the
        message; what became of it, or why it was not sent (the run ended or was paused)."""
        run = self.run
        message.quiet = self.policy if message.channel in await self._quiet_channels() else None
        while True:
            if run.paused is not None:  # paused while the policy was asked, or quiet hours held
                await run.wait_while_paused()
                if run.outcome is not None:
                    return f"{message.channel} not sent: {run.outcome} while paused"
            message.at, message.step_record = workflow.now(), run.step_record(step_id, detail)
            message.branch = self._branch_ahead(step_id)
            outcome = await self._deliver(message)
            if outcome.recorded:  # by the activity, with this outcome (an older worker: not)
                run.step_recorded()
            if outcome.status != "held":
                return outcome
            assert outcome.held_for is not None
            # from the moment it was asked: a queue's delay does not lengthen the wait
            wait = message.at + outcome.held_for - workflow.now()
            # a moment, not a span: read later, it still holds
            run.show(f"quiet hours, sending at {utc_minute(message.at + outcome.held_for)}")
            if wait > timedelta(0):
                await run.sleep(wait)
            if run.outcome is not None:
                return f"{message.channel} not sent: {run.outcome} during quiet hours"

    async def recommend(self, step: Recommend) -> str:
        """Products for the sends that follow, seeded by what the last event is about (the
        viewed product, the cart's products). The activity never fails for lack of data: a
        customer without history gets the fallback, and the result says so."""
        last = self.run.last_event
        found = await RECOMMEND_PRODUCTS.run(
            RecommendInput(
                customer_id=self.run.input.customer_id,
                kind=step.recommender,
                count=step.count,
                product_ids=seed_products(last.properties if last else {}),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"recommend {step.count} {step.recommender} products",
        )
        self.products.pop(step.save_as, None)  # keeps "the latest" last
        self.products[step.save_as] = [p.model_dump() for p in found.products]
        fallback = f" ({found.fallback})" if found.fallback else ""
        return f"{len(found.products)} products from {step.recommender}{fallback}"

    async def _quiet_channels(self) -> list[str]:
        """The channels quiet hours hold back."""
        if self.policy is None:
            self.policy = self.run.input.delivery or await DELIVERY_POLICY.run(
                start_to_close_timeout=ACTIVITY_TIMEOUT
            )
        return self.policy.quiet_channels if self.policy.quiet_start else []

    async def _hold_for_quiet_hours(self) -> bool:
        """Wait, as a durable timer a goal or exit can cut short, until the customer's quiet
        hours are over. True when it waited."""
        run, policy = self.run, self.policy
        assert policy and policy.quiet_start and policy.quiet_end
        traits = await run.traits()
        zone = zone_or(traits.get("timezone"), "UTC")
        wait = quiet_wait(workflow.now(), zone, policy.quiet_start, policy.quiet_end)
        if wait <= timedelta(0):
            return False
        run.show(f"quiet hours, sending at {utc_minute(workflow.now() + wait)}")
        await run.sleep(wait)
        return True

    async def _deliver(self, message: QueueMessageInput) -> DeliveryResult:
        outcome = await self._deliver_once(message)
        self.run.handed_profile = outcome.profile  # as recorded: None from an older worker
        self.run.handed_branch = outcome.branch  # likewise
        return outcome

    async def _deliver_once(self, message: QueueMessageInput) -> DeliveryResult:
        message.records = self.run.take_records()  # written by the send, in its transaction
        retry = RetryPolicy(maximum_interval=timedelta(minutes=10))
        summary = _send_summary(message)
        if message.channel not in PROVIDER_CHANNELS:  # on-site popovers: stored, not sent (local)
            return await DELIVER_MESSAGE.run_store(
                message,
                local=self.run.local_activities,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=retry,
                summary=summary,
            )
        sending = asyncio.ensure_future(
            DELIVER_MESSAGE.run(
                message,
                task_queue=channel_task_queue(workflow.info().task_queue, message.channel),
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_DEADLINE,
                heartbeat_timeout=SEND_HEARTBEAT_TIMEOUT,
                retry_policy=retry,
                summary=summary,
            )
        )
        # a provider outage retries the send for hours: the goal or an exit met meanwhile
        # cancels it, so a "come back" message never goes out after the customer came back.
        # Not in a backtest (store work local): its recorder answers at once, a cancel would
        # race it in real time (the report must not depend on it), and the time-skipping test
        # server never moves its clock again after some cancels (docs/versioning.md)
        cancels = not self.run.input.local_activities
        await workflow.wait_condition(
            lambda: sending.done() or (cancels and self.run.outcome is not None)
        )
        if sending.done():
            try:
                return sending.result()
            except ActivityError as err:
                expired = err.retry_state == RetryState.TIMEOUT  # retried until the deadline
                if not (expired or isinstance(err.cause, exceptions.TimeoutError)):
                    raise
                hours = int(SEND_DEADLINE.total_seconds() // 3600)
                return await self._give_up(
                    message, "failed", f"not sent after {hours} h of retries"
                )
        sending.cancel()
        try:
            return await sending  # it may have been delivered as the cancel went out
        except (asyncio.CancelledError, ActivityError):
            return await self._give_up(message, "skipped", f"{self.run.outcome} before it went out")

    async def _give_up(
        self, message: QueueMessageInput, status: str, reason: str
    ) -> DeliveryResult:
        """A send the run stopped: the ledger says so (unless an attempt settled it first). A run
        that sends in one activity writes the records it had handed the send itself (the send
        may not have written them)."""
        if self.in_one_activity:
            self.run.unwritten[:0] = message.records
        await GIVE_UP_MESSAGE.run_store(
            GiveUpInput(idempotency_key=message.idempotency_key, status=status, reason=reason),
            local=self.run.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return DeliveryResult(status=status, reason=reason)


def _send_summary(message: QueueMessageInput) -> str:
    """What the Temporal UI shows on the activity: channel, template and step, no address."""
    return f"{message.channel} {message.template} at step {message.step} of {message.journey}"

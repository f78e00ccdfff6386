"""Channel delivery with an exactly-once ledger (the `message` table).

The ledger row, keyed by the send's idempotency key (journey run, step, visit: never the attempt),
is read before and written around each send: a retried or replayed activity finds `sent` and
delivers nothing. The window that remains: the provider accepted the message and the worker died
before writing `sent`. The retry then sends again with the same key (the Message-ID of an email,
the Idempotency-Key header of an HTTP provider), so a provider that de-duplicates drops it; one
that does not delivers it twice.
"""

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys.activities.journeys import count_run_changes
from journeys.channels import email, http_providers, tracking
from journeys.channels.consent import unsubscribe_url
from journeys.channels.http_providers import HttpProvider
from journeys.channels.subscriptions import load_topics, refusal
from journeys.channels.templates import SHIPPED, RenderError, Template, render, render_context
from journeys.config.metrics import MESSAGES
from journeys.config.settings import Settings
from journeys.store.consent import subscriptions, suppression
from journeys.store.customers import customer_profile, customer_traits
from journeys.store.db import session_scope
from journeys.store.journey_runs import (
    recent_marketing_sends,
    record_journey_event,
    record_journey_events,
    recorded_detail,
)
from journeys.store.ledger import SETTLED, give_up, ledger_entry, mark, settle
from journeys.vocabulary.activity_refs import DELIVER_MESSAGE, DELIVERY_POLICY, GIVE_UP_MESSAGE
from journeys.vocabulary.goals import branch_case, branch_context, branch_detail, first_case
from journeys.vocabulary.holdouts import (
    GLOBAL_CONTROL_REASON,
    HOLDOUT_REASON,
    in_global_control,
)
from journeys.vocabulary.journey_types import (
    BranchAhead,
    BranchTaken,
    CustomerProfile,
    DeliveryPolicy,
    DeliveryResult,
    GiveUpInput,
    QueueMessageInput,
)
from journeys.vocabulary.local_time import quiet_wait, zone_or


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    window = settings.quiet_window
    if window is None:
        return DeliveryPolicy()
    return DeliveryPolicy(quiet_start=window[0], quiet_end=window[1])


def wall_clock(_: QueueMessageInput) -> datetime:
    return datetime.now(UTC)


class ChannelActivities:
    """`clock` is the time caps count from and the ledger keeps (asked with the message). A
    backtest (`journeys.backtest`) passes the simulated clock and `records_only`: nothing
    leaves the machine, the ledger row (`sent`, with the payload that would have gone) is the
    record, so a send settles in the transaction that composed it (a provider's answer comes
    after that one commits, in a second)."""

    def __init__(
        self, settings: Settings, templates: dict[str, Template], *,
        clock: Callable[[QueueMessageInput], datetime] = wall_clock, records_only: bool = False,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.templates = templates
        self.topics = load_topics(settings.templates_dir or SHIPPED)
        self.clock = clock
        self.records_only = records_only

    @activity.defn(name=DELIVERY_POLICY.name)
    def delivery_policy(self) -> DeliveryPolicy:
        """For a run started without the policy (customers pass theirs to the runs they start);
        the wait itself is a durable timer in the workflow."""
        return delivery_policy(self.settings)

    @activity.defn(name=DELIVER_MESSAGE.name)
    def deliver_message(self, input: QueueMessageInput) -> DeliveryResult:
        with heartbeating():  # a dead worker is noticed in seconds, a slow provider is not
            result = self._deliver(input)
        if input.profile_wanted and result.status != "held":
            with session_scope(self.settings.database_url) as session:
                result.profile = customer_profile(session, customer_id=input.customer_id)
                if input.branch is not None and result.recorded:  # the step's last send
                    result.branch = _take_branch(session, input.branch, result.profile)
        return result

    @activity.defn(name=GIVE_UP_MESSAGE.name)
    def give_up_message(self, input: GiveUpInput) -> bool:
        """The ledger learns of a send its run stopped (goal met, deadline passed)."""
        with session_scope(self.settings.database_url) as session:
            return give_up(session, key=input.idempotency_key, status=input.status,
                           reason=input.reason)  # fmt: skip

    def _deliver(self, input: QueueMessageInput) -> DeliveryResult:
        template = self.templates.get(input.template)
        category = "transactional" if template and template.transactional else "marketing"
        with session_scope(self.settings.database_url) as session:
            count_run_changes(record_journey_events(session, records=input.records))
            # locked: two journeys sending at once are counted one after the other against
            # the frequency cap
            traits = customer_traits(session, customer_id=input.customer_id, lock=True) or {}
            if input.quiet is not None and input.quiet.quiet_start and input.quiet.quiet_end:
                zone = zone_or(traits.get("timezone"), "UTC")
                wait = quiet_wait(input.at or self.clock(input), zone, input.quiet.quiet_start,
                                  input.quiet.quiet_end)  # fmt: skip
                if wait > timedelta(0):  # nothing in the ledger yet: the run asks again later
                    return DeliveryResult(status="held", reason="quiet hours", held_for=wait)
            entry = ledger_entry(session, message=input, category=category, at=self.clock(input))
            if entry.status in SETTLED:  # delivered (or settled) before: exactly once
                result = DeliveryResult(status=entry.status, reason=entry.reason)
                return _with_step_record(session, input, result)
            problem = self._why_not(session, input, template, traits)
            if problem is not None:
                mark(session, entry, status=problem[0], reason=problem[1], at=self.clock(input))
                MESSAGES.labels(channel=input.channel, outcome=problem[0]).inc()
                result = DeliveryResult(status=problem[0], reason=problem[1])
                return _with_step_record(session, input, result)
            assert template is not None  # _why_not fails a message whose template is gone
            payload = entry.payload
            if payload is None:  # composed once; a retry after a crash reuses it
                try:
                    payload = self._compose(input, template, traits)
                except (email.PermanentFailure, RenderError) as err:
                    mark(session, entry, status="failed", reason=str(err), at=self.clock(input))
                    MESSAGES.labels(channel=input.channel, outcome="failed").inc()
                    result = DeliveryResult(status="failed", reason=str(err))
                    return _with_step_record(session, input, result)
            mark(session, entry, status="sending", payload=payload, at=self.clock(input))
            payload = dict(payload)
            if self.records_only:
                return self._settle_in(session, input, "sent", "")
        try:
            self._transmit(input, payload)
        except email.PermanentFailure as err:  # a retry would fail the same way
            return self._settle(input, "failed", str(err))
        except Exception as err:  # transient: the activity retries; the ledger says "sending"
            raise ApplicationError(f"{input.channel} not sent yet: {err}") from err
        activity.logger.info(
            "message sent",
            extra={"customer_id": input.customer_id, "channel": input.channel,
                   "template": input.template},
        )  # fmt: skip
        return self._settle(input, "sent", "")

    def _why_not(
        self, session: Session, input: QueueMessageInput, template: Template | None,
        traits: dict[str, Any],
    ) -> tuple[str, str] | None:  # fmt: skip
        """Why this message must not go now: (status, reason), or None to send it."""
        channel, customer_id = input.channel, input.customer_id
        if input.held_out:
            return "skipped", HOLDOUT_REASON
        marketing = template is not None and not template.transactional
        if marketing and in_global_control(customer_id, self.settings.global_control):
            return "skipped", GLOBAL_CONTROL_REASON
        blocked = suppression(session, customer_id=customer_id, channel=channel)
        if blocked:
            return "skipped", blocked.reason
        if template and not template.transactional:
            topic = self.topics.get(template.topic or "")
            refused = refusal(
                subscriptions(session, customer_id=customer_id), channel=channel,
                topic=template.topic, opt_in=bool(topic and channel in topic.opt_in),
            )  # fmt: skip
            if refused:
                return "skipped", refused
        if channel == "popover":
            return "queued", "waiting for the customer's next page view"
        if not self._configured(channel):
            return "queued", f"no {channel} provider configured: kept in the outbox"
        if template is None:  # published with it, then removed from this worker's folder
            return "failed", f"unknown template {input.template!r}"
        if channel == "email" and not traits.get("email"):
            return "skipped", "no email address"
        if channel == "sms" and not traits.get("phone"):
            return "skipped", "no phone number"
        cap = self.settings.caps.get(channel)
        if cap and not template.transactional:
            count, window = cap
            sent = recent_marketing_sends(
                session, customer_id=customer_id, channel=channel,
                since=self.clock(input) - window, other_than=input.idempotency_key,
            )  # fmt: skip
            if sent >= count:
                return "skipped", f"frequency cap: {count} {channel} per {_span(window)}"
        return None

    def _configured(self, channel: str) -> bool:
        s = self.settings
        providers = {
            "email": s.smtp_host,
            "sms": s.sms_provider_url,
            "push": s.push_provider_url,
            "webhook": s.webhook_url,
        }
        return bool(providers.get(channel))

    def _compose(
        self, input: QueueMessageInput, template: Template, traits: dict[str, Any]
    ) -> dict[str, Any]:
        """Everything the provider gets, rendered for this customer now (JSON for the ledger)."""
        s = self.settings
        link = unsubscribe_url(
            s.public_url, s.signing_key or "", input.customer_id, input.channel, template.topic,
            days=s.unsubscribe_link_days,
        )  # fmt: skip
        context = render_context(
            customer_id=input.customer_id, traits=traits, unsubscribe_url=link,
            properties=input.context.get("properties"), products=input.context.get("products"),
        )  # fmt: skip
        content = render(template, input.channel, context)
        if input.channel == "email":
            html = content.get("html")
            if html and s.signing_key:  # opens and clicks come back as events
                send = tracking.SendIdentity(input.customer_id, input.idempotency_key,
                                             input.journey, input.step, input.template)  # fmt: skip
                html = tracking.track_links(
                    html, public_url=s.public_url, signing_key=s.signing_key, send=send,
                    keep=[link],
                )  # fmt: skip
            return {"to": str(traits["email"]), "subject": content["subject"],
                    "text": content["text"], "html": html, "unsubscribe_url": link}  # fmt: skip
        if input.channel == "sms":
            body = http_providers.sms_body(str(traits["phone"]), content)
        elif input.channel == "push":
            body = http_providers.push_body(input.customer_id, content)
        else:
            body = http_providers.webhook_body(content)
        return {"body": body.decode()}

    def _transmit(self, input: QueueMessageInput, payload: dict[str, Any]) -> None:
        s = self.settings
        if input.channel == "email":
            assert s.smtp_host is not None
            config = email.SmtpConfig(
                host=s.smtp_host, port=s.smtp_port, sender=s.email_from, starttls=s.smtp_starttls,
                tls=s.smtp_tls, username=s.smtp_username, password=s.smtp_password,
            )  # fmt: skip
            message = email.build(
                config, to=payload["to"], subject=payload["subject"], text=payload["text"],
                html=payload["html"], idempotency_key=input.idempotency_key,
                unsubscribe_url=payload["unsubscribe_url"],
            )  # fmt: skip
            email.send(config, message)
            return
        if input.channel == "sms":
            provider = HttpProvider(str(s.sms_provider_url), s.sms_provider_token)
        elif input.channel == "push":
            provider = HttpProvider(str(s.push_provider_url), s.push_provider_token)
        else:
            provider = HttpProvider(str(s.webhook_url), secret=s.webhook_secret)
        http_providers.post(provider, payload["body"].encode(), input.idempotency_key)

    def _settle(self, input: QueueMessageInput, status: str, reason: str) -> DeliveryResult:
        with session_scope(self.settings.database_url) as session:
            return self._settle_in(session, input, status, reason)

    def _settle_in(
        self, session: Session, input: QueueMessageInput, status: str, reason: str
    ) -> DeliveryResult:
        entry = settle(session, key=input.idempotency_key, status=status, reason=reason,
                       at=self.clock(input))  # fmt: skip
        MESSAGES.labels(channel=entry.channel, outcome=status).inc()
        return _with_step_record(session, input, DeliveryResult(status=status, reason=reason))


def _take_branch(session: Session, branch: BranchAhead, profile: CustomerProfile) -> BranchTaken:
    """The branch after the send, decided on the profile the send just read, with its record:
    a run that waits next has nothing left to write first. A retried activity keeps what the
    first attempt decided (the record holds the run's seq)."""
    case = first_case(branch.conditions, branch_context(branch.context, profile))
    record = branch.record.model_copy(update={"detail": branch_detail(case)})
    if not record_journey_event(session, record=record):
        kept = recorded_detail(session, record=record)
        if kept is not None:
            case = branch_case(kept)
    return BranchTaken(case=case)


def _with_step_record(
    session: Session, input: QueueMessageInput, result: DeliveryResult
) -> DeliveryResult:
    """The step's own record, in the transaction that settles its last send: the run needs no
    activity of its own to write it before it waits."""
    record = input.step_record
    if record is not None and not result.takes_fallback(input.fallback):
        detail = record.detail + result.describe(input.channel)
        record_journey_event(session, record=record.model_copy(update={"detail": detail}))
        result.recorded = True  # (or an earlier attempt did: the record is the run's seq)
    return result


@contextmanager
def heartbeating(every: float = 5.0) -> Iterator[None]:
    """Heartbeat from a side thread while a blocking send runs, so a worker that dies mid-send
    is noticed within the heartbeat timeout rather than the whole start-to-close timeout."""
    done = threading.Event()
    context = contextvars.copy_context()  # the heartbeat needs the activity's context

    def beat() -> None:
        while not done.wait(every):
            try:
                context.run(activity.heartbeat)
            except RuntimeError:  # not running as an activity (a direct call)
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _span(window: timedelta) -> str:
    """7 days, 12 hours, 30 minutes: as the cap was written."""
    minutes = int(window.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return str(window)

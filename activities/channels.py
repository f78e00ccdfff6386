"""Channel delivery with an exactly-once ledger (the `message` table).

The ledger row, keyed by the send's idempotency key (journey run, step, visit: never the attempt),
is read before and written around each send: a retried or replayed activity finds `sent` and
delivers nothing. The window that remains: the provider accepted the message and the worker died
before writing `sent`. The retry then sends again with the same key (the Message-ID of an email,
the Idempotency-Key header of an HTTP provider), so a provider that de-duplicates drops it; one
that does not delivers it twice.
"""

from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from channels import email, http_providers
from channels.consent import unsubscribe_url
from channels.http_providers import HttpProvider
from channels.templates import Template, render
from config.settings import Settings
from store.consent import suppression
from store.db import session_scope
from store.models import Customer, Message
from workflows.journey_types import DeliveryPolicy, DeliveryResult, QueueMessageInput

DONE = ("sent", "skipped", "failed")


class ChannelActivities:
    def __init__(self, settings: Settings, templates: dict[str, Template]) -> None:
        self.settings = settings
        self.templates = templates

    @activity.defn(name="delivery_policy")
    def delivery_policy(self) -> DeliveryPolicy:
        """Read once per journey run; the wait itself is a durable timer in the workflow."""
        window = self.settings.quiet_window
        if window is None:
            return DeliveryPolicy()
        return DeliveryPolicy(quiet_start=window[0], quiet_end=window[1])

    @activity.defn(name="deliver_message")
    def deliver_message(self, input: QueueMessageInput) -> DeliveryResult:
        with session_scope(self.settings.database_url) as session:
            message = session.get(Message, input.idempotency_key)
            if message is None:
                message = Message(**input.model_dump(), status="queued")
                session.add(message)
            if message.status in DONE:  # delivered (or settled) before: exactly once
                return DeliveryResult(status=message.status, reason=message.reason)
            blocked = suppression(session, customer_id=input.customer_id, channel=input.channel)
            customer = session.get(Customer, input.customer_id)
            traits: dict[str, Any] = dict(customer.traits) if customer else {}
            problem = self._why_not(input, traits, blocked.reason if blocked else None)
            if problem is not None:
                message.status, message.reason = problem
                session.add(message)
                return DeliveryResult(status=problem[0], reason=problem[1])
            message.status = "sending"
            session.add(message)
        try:
            content, link = self._render(input, traits)
            if input.channel == "email":
                self._send_email(input, traits, content, link)
            else:
                self._send_http(input, traits, content)
        except email.PermanentFailure as err:
            return self._settle(input.idempotency_key, "failed", str(err))
        except Exception as err:  # transient: the activity retries; the ledger says "sending"
            raise ApplicationError(f"{input.channel} not sent yet: {err}") from err
        activity.logger.info(
            "message sent",
            extra={"customer_id": input.customer_id, "channel": input.channel,
                   "template": input.template},
        )  # fmt: skip
        return self._settle(input.idempotency_key, "sent", "")

    def _why_not(
        self, input: QueueMessageInput, traits: dict[str, Any], suppressed: str | None
    ) -> tuple[str, str] | None:
        if suppressed:
            return "skipped", suppressed
        if input.channel == "popover":
            return "queued", "waiting for the customer's next page view"
        if not self._configured(input.channel):
            return "queued", f"no {input.channel} provider configured: kept in the outbox"
        if input.channel == "email" and not traits.get("email"):
            return "skipped", "no email address"
        if input.channel == "sms" and not traits.get("phone"):
            return "skipped", "no phone number"
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

    def _render(
        self, input: QueueMessageInput, traits: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        s = self.settings
        link = unsubscribe_url(s.public_url, s.signing_key or "", input.customer_id, input.channel)
        context = {
            "traits": traits,
            "properties": input.context.get("properties", {}),
            "products": input.context.get("products", []),
            "customer_id": input.customer_id,
            "unsubscribe_url": link,
        }
        return render(self.templates[input.template], input.channel, context), link

    def _send_email(
        self, input: QueueMessageInput, traits: dict[str, Any], content: dict[str, Any], link: str
    ) -> None:
        s = self.settings
        assert s.smtp_host is not None
        config = email.SmtpConfig(
            host=s.smtp_host, port=s.smtp_port, sender=s.email_from, starttls=s.smtp_starttls,
            tls=s.smtp_tls, username=s.smtp_username, password=s.smtp_password,
        )  # fmt: skip
        message = email.build(
            config, to=str(traits["email"]), subject=content["subject"], text=content["text"],
            html=content.get("html"), idempotency_key=input.idempotency_key,
            unsubscribe_url=link,
        )  # fmt: skip
        email.send(config, message)

    def _send_http(
        self, input: QueueMessageInput, traits: dict[str, Any], content: dict[str, Any]
    ) -> None:
        s = self.settings
        if input.channel == "sms":
            provider = HttpProvider(str(s.sms_provider_url), s.sms_provider_token)
            body = http_providers.sms_body(str(traits["phone"]), content)
        elif input.channel == "push":
            provider = HttpProvider(str(s.push_provider_url), s.push_provider_token)
            body = http_providers.push_body(input.customer_id, content)
        else:
            provider = HttpProvider(str(s.webhook_url), secret=s.webhook_secret)
            body = http_providers.webhook_body(content)
        http_providers.post(provider, body, input.idempotency_key)

    def _settle(self, key: str, status: str, reason: str) -> DeliveryResult:
        with session_scope(self.settings.database_url) as session:
            message = session.get(Message, key)
            assert message is not None
            message.status, message.reason = status, reason
            if status == "sent":
                message.sent_at = datetime.now(UTC)
            session.add(message)
        return DeliveryResult(status=status, reason=reason)

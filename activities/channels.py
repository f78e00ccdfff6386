"""Channel delivery with an exactly-once ledger (the `message` table).

The ledger row, keyed by the send's idempotency key (journey run, step, visit: never the attempt),
is read before and written around each send: a retried or replayed activity finds `sent` and
delivers nothing. The window that remains: the provider accepted the message and the worker died
before writing `sent`. The retry then sends again with the same key, as the Message-ID for email,
so a relay or inbox that de-duplicates drops it; one that does not shows it twice.
"""

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from channels import email
from channels.consent import unsubscribe_url
from channels.templates import Template, render
from config.settings import Settings
from store.consent import suppression
from store.db import session_scope
from store.models import Customer, Message
from workflows.journey_types import DeliveryResult, QueueMessageInput

DONE = ("sent", "skipped", "failed")


class ChannelActivities:
    def __init__(self, settings: Settings, templates: dict[str, Template]) -> None:
        self.settings = settings
        self.templates = templates

    @activity.defn(name="deliver_message")
    def deliver_message(self, input: QueueMessageInput) -> DeliveryResult:
        url = self.settings.database_url
        with session_scope(url) as session:
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
                status, reason = problem
                message.status, message.reason = status, reason
                session.add(message)
                return DeliveryResult(status=status, reason=reason)
            message.status = "sending"
            session.add(message)
        try:
            self._send_email(input, traits)
        except email.PermanentFailure as err:
            return self._settle(input.idempotency_key, "failed", str(err))
        except Exception as err:  # transient: the activity retries; the ledger says "sending"
            raise ApplicationError(f"email not sent yet: {err}") from err
        return self._settle(input.idempotency_key, "sent", "")

    def _why_not(
        self, input: QueueMessageInput, traits: dict[str, Any], suppressed: str | None
    ) -> tuple[str, str] | None:
        if suppressed:
            return "skipped", suppressed
        if input.channel != "email" or not self.settings.smtp_host:
            return "queued", f"no {input.channel} provider configured: kept in the outbox"
        if not traits.get("email"):
            return "skipped", "no email address"
        return None

    def _send_email(self, input: QueueMessageInput, traits: dict[str, Any]) -> None:
        s = self.settings
        link = unsubscribe_url(s.public_url, s.signing_key or "", input.customer_id, input.channel)
        content = render(
            self.templates[input.template],
            "email",
            {
                "traits": traits,
                "properties": input.context.get("properties", {}),
                "products": input.context.get("products", []),
                "customer_id": input.customer_id,
                "unsubscribe_url": link,
            },
        )
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
        activity.logger.info(
            "email sent", extra={"customer_id": input.customer_id, "template": input.template}
        )

    def _settle(self, key: str, status: str, reason: str) -> DeliveryResult:
        with session_scope(self.settings.database_url) as session:
            message = session.get(Message, key)
            assert message is not None
            message.status, message.reason = status, reason
            session.add(message)
        return DeliveryResult(status=status, reason=reason)

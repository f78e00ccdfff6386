"""One-click unsubscribe links: an HMAC of customer, channel, topic and expiry date, so a link
cannot be forged for someone else or stretched past its date, and needs no login. A link without
a topic leaves the whole channel.

Links expire (`JOURNEYS_UNSUBSCRIBE_LINK_DAYS`, at least the 30 days CAN-SPAM requires an opt-out
to keep working) so a forwarded or leaked message cannot unsubscribe its reader for ever. Links
sent before expiry existed carry no date and stay valid: they were sent with that promise.
"""

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode


class InvalidLink(Exception):
    """Not a link we signed."""


class ExpiredLink(Exception):
    """A link we signed whose last day has passed."""


def token(
    signing_key: str,
    customer_id: str,
    channel: str,
    topic: str | None = None,
    expires: str | None = None,
) -> str:
    signed = f"{customer_id}\n{channel}" + (f"\n{topic}" if topic else "")
    if expires:
        signed += f"\nexpires {expires}"
    digest = hmac.new(signing_key.encode(), signed.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode().rstrip("=")


def check(
    signing_key: str,
    customer_id: str,
    channel: str,
    candidate: str,
    topic: str | None = None,
    expires: str | None = None,
    today: date | None = None,
) -> None:
    """Raises InvalidLink unless we signed exactly these values, ExpiredLink after its date."""
    expected = token(signing_key, customer_id, channel, topic, expires)
    if not hmac.compare_digest(expected, candidate):
        raise InvalidLink("this unsubscribe link is not valid")
    if expires and (today or datetime.now(UTC).date()) > date.fromisoformat(expires):
        raise ExpiredLink(f"this unsubscribe link expired on {expires}")


def unsubscribe_url(
    public_url: str,
    signing_key: str,
    customer_id: str,
    channel: str,
    topic: str | None = None,
    days: int = 365,
    today: date | None = None,
) -> str:
    """Valid through the date `days` from today (UTC): whole days, so every message rendered on
    one day carries the same link."""
    expires = ((today or datetime.now(UTC).date()) + timedelta(days=days)).isoformat()
    query = {"c": customer_id, "ch": channel, "e": expires,
             "t": token(signing_key, customer_id, channel, topic, expires)}  # fmt: skip
    if topic:
        query["tp"] = topic
    return f"{public_url.rstrip('/')}/v1/unsubscribe?{urlencode(query)}"

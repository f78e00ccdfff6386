"""One-click unsubscribe links: an HMAC of customer, channel and topic, so a link cannot be
forged for someone else and needs no login. A link without a topic leaves the whole channel."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode


def token(signing_key: str, customer_id: str, channel: str, topic: str | None = None) -> str:
    signed = f"{customer_id}\n{channel}" + (f"\n{topic}" if topic else "")
    digest = hmac.new(signing_key.encode(), signed.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode().rstrip("=")


def valid(
    signing_key: str, customer_id: str, channel: str, candidate: str, topic: str | None = None
) -> bool:
    return hmac.compare_digest(token(signing_key, customer_id, channel, topic), candidate)


def unsubscribe_url(
    public_url: str, signing_key: str, customer_id: str, channel: str, topic: str | None = None
) -> str:
    query = {"c": customer_id, "ch": channel, "t": token(signing_key, customer_id, channel, topic)}
    if topic:
        query["tp"] = topic
    return f"{public_url.rstrip('/')}/v1/unsubscribe?{urlencode(query)}"

"""One-click unsubscribe links: an HMAC of customer and channel, so a link cannot be forged for
someone else and needs no login."""

import base64
import hashlib
import hmac
from urllib.parse import urlencode


def token(signing_key: str, customer_id: str, channel: str) -> str:
    digest = hmac.new(signing_key.encode(), f"{customer_id}\n{channel}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode().rstrip("=")


def valid(signing_key: str, customer_id: str, channel: str, candidate: str) -> bool:
    return hmac.compare_digest(token(signing_key, customer_id, channel), candidate)


def unsubscribe_url(public_url: str, signing_key: str, customer_id: str, channel: str) -> str:
    query = urlencode(
        {"c": customer_id, "ch": channel, "t": token(signing_key, customer_id, channel)}
    )
    return f"{public_url.rstrip('/')}/v1/unsubscribe?{query}"

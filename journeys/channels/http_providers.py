"""SMS, push and webhooks through HTTP providers: one JSON POST per message, carrying the send's
idempotency key as `Idempotency-Key`, so a provider that honours it drops a retried request.

The provider interface is small on purpose: a URL and a bearer token in settings, and a JSON
body per channel. A provider with another shape needs one function here, nothing elsewhere.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from journeys.channels.email import PermanentFailure

TIMEOUT = httpx.Timeout(15.0)


@cache
def _client() -> httpx.Client:
    """One per process (thread-safe, keeps connections): a client per message loaded the CA
    certificates every time, a fifth of a busy worker's CPU."""
    return httpx.Client(timeout=TIMEOUT)


@dataclass(frozen=True)
class HttpProvider:
    url: str
    token: str | None = None
    secret: str | None = None  # webhooks: signs the body (X-Journeys-Signature: sha256=...)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(provider: HttpProvider, body: bytes, idempotency_key: str) -> None:
    """2xx: delivered. 4xx (but 408/429): refused for good. Anything else: worth a retry."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if provider.token:
        headers["Authorization"] = f"Bearer {provider.token}"
    if provider.secret:
        headers["X-Journeys-Signature"] = signature(provider.secret, body)
    response = _client().post(provider.url, content=body, headers=headers)
    if response.is_success:
        return
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentFailure(f"{response.status_code} {response.text[:200]!r}")
    response.raise_for_status()
    raise httpx.HTTPError(f"unexpected answer {response.status_code}")


def sms_body(to: str, content: dict[str, Any]) -> bytes:
    return json.dumps({"to": to, "text": content["text"]}).encode()


def push_body(customer_id: str, content: dict[str, Any]) -> bytes:
    """Addressed by customer id (the provider's external user id): no device data here."""
    fields = {k: content.get(k) for k in ("title", "body", "deep_link")}
    return json.dumps({"external_id": customer_id, **fields}).encode()


def webhook_body(content: dict[str, Any]) -> bytes:
    """The template renders JSON; it is checked here so a broken template fails loudly."""
    try:
        return json.dumps(json.loads(content["body"])).encode()
    except json.JSONDecodeError as err:
        raise PermanentFailure(f"webhook template did not render JSON: {err}") from err

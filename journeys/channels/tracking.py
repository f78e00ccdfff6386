"""Open and click tracking for email: signed, expiring tokens for the open pixel and the click
redirects, and the rewrite that puts them into a rendered email's HTML.

A token carries the send's identity (customer, idempotency key, journey, step, template), the
link's target for a click, and an expiry, all signed with HMAC-SHA256, so the API needs no
lookup to record an event and can never be made to redirect to a URL we did not sign. The
expiry bounds how long an old email can keep feeding a customer's workflow (and how long a
leaked link stays useful).
"""

import base64
import hashlib
import hmac
import html
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

TOKEN_DAYS = 90  # a link in an email records clicks (and redirects) this long after the send
Kind = Literal["o", "c"]
OPEN: Final[Kind] = "o"
CLICK: Final[Kind] = "c"

# An <a ...> start tag; quoted attribute values may hold ">" without ending the tag.
_A_TAG = re.compile(r"""<a\s(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


class InvalidToken(Exception):
    """Not a token we signed (tampered, truncated, or for another purpose)."""


class ExpiredToken(Exception):
    """A token we signed whose time is up."""


@dataclass(frozen=True)
class SendIdentity:
    """Which send a link belongs to: enough to name the event without reading the ledger."""

    customer_id: str
    idempotency_key: str
    journey: str
    step: str
    template: str


@dataclass(frozen=True)
class Tracked:
    kind: Kind
    send: SendIdentity
    url: str | None
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(signing_key: str, payload: str) -> str:
    # "tracking." keeps these apart from every other thing the key signs (unsubscribe links)
    digest = hmac.new(signing_key.encode(), b"tracking." + payload.encode(), hashlib.sha256)
    return _b64(digest.digest()[:24])


def make_token(
    signing_key: str, kind: Kind, send: SendIdentity, expires_at: datetime, url: str | None = None
) -> str:
    fields = [kind, send.customer_id, send.idempotency_key, send.journey, send.step,
              send.template, int(expires_at.timestamp()), url]  # fmt: skip
    payload = _b64(json.dumps(fields, separators=(",", ":")).encode())
    return f"{payload}.{_signature(signing_key, payload)}"


def read_token(signing_key: str, token: str, kind: Kind, now: datetime | None = None) -> Tracked:
    """The token's content, if we signed it for `kind` and it has not expired."""
    payload, _, signature = token.rpartition(".")
    if not payload or not hmac.compare_digest(_signature(signing_key, payload), signature):
        raise InvalidToken("bad signature")
    try:
        found, customer, key, journey, step, template, expires, url = json.loads(_unb64(payload))
    except (ValueError, TypeError) as err:  # only a signing bug gets here: signature matched
        raise InvalidToken("unreadable") from err
    if found != kind or (kind == CLICK) != isinstance(url, str):
        raise InvalidToken(f"not a {'click' if kind == CLICK else 'open'} token")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        raise ExpiredToken(f"expired {expires_at.date().isoformat()}")
    send = SendIdentity(customer, key, journey, step, template)
    return Tracked(kind=found, send=send, url=url, expires_at=expires_at)


def open_url(public_url: str, signing_key: str, send: SendIdentity, expires_at: datetime) -> str:
    return f"{public_url.rstrip('/')}/v1/t/o/{make_token(signing_key, OPEN, send, expires_at)}.gif"


def click_url(
    public_url: str, signing_key: str, send: SendIdentity, url: str, expires_at: datetime
) -> str:
    token = make_token(signing_key, CLICK, send, expires_at, url)
    return f"{public_url.rstrip('/')}/v1/t/c/{token}"


def track_links(
    body: str, *, public_url: str, signing_key: str, send: SendIdentity,
    keep: Collection[str] = (), now: datetime | None = None,
) -> str:  # fmt: skip
    """`body` (an email's HTML) with each http(s) link sent through the click redirect and an
    open pixel at the end of the body.

    Left alone: `keep` (the unsubscribe link: a one-click unsubscribe must not depend on the
    tracker, and must never count as engagement), links into our own API, and anything not
    http(s) (mailto:, tel:, anchors).
    """
    expires_at = (now or datetime.now(UTC)) + timedelta(days=TOKEN_DAYS)
    own = public_url.rstrip("/") + "/v1/"

    def rewrite_href(match: re.Match[str]) -> str:
        quoted = match.group(3) if match.group(3) is not None else match.group(4)
        raw = quoted if quoted is not None else match.group(5)
        target = html.unescape(raw).strip()
        if (
            not target.lower().startswith(("http://", "https://"))
            or target in keep
            or target.startswith(own)
        ):
            return match.group(0)
        tracked = click_url(public_url, signing_key, send, target, expires_at)
        return f'{match.group(1)}"{html.escape(tracked)}"'

    def rewrite_tag(match: re.Match[str]) -> str:
        return _HREF.sub(rewrite_href, match.group(0), count=1)

    tracked = _A_TAG.sub(rewrite_tag, body)
    src = html.escape(open_url(public_url, signing_key, send, expires_at))
    pixel = (
        f'<img src="{src}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    ends = list(_BODY_END.finditer(tracked))
    if not ends:
        return tracked + pixel
    cut = ends[-1].start()
    return tracked[:cut] + pixel + tracked[cut:]

"""Who may call: write keys (`JOURNEYS_WRITE_KEYS`: tracking, popovers, recommendations for
websites, as in Segment), the admin key (`JOURNEYS_ADMIN_KEY`, sent as `Authorization: Bearer
<key>`) that guards every management endpoint (the reports also take it as an HTTP Basic
password, so a browser can open the report page), and the delivery providers' tokens.
The checks raise ApiError; api/deps.py makes them dependencies."""

import base64
import binascii
import hmac
import time
from urllib.parse import urlencode

from fastapi import Request

from journeys.api.errors import ApiError
from journeys.config.settings import Settings

STORED_KEYS_TTL = 5.0  # seconds a process trusts its copy of the stored keys (revocation lag)
_stored: dict[str, tuple[float, dict[str, str]]] = {}


def stored_key_kind(settings: Settings, key: str) -> str | None:
    """The kind of a key made with `journeys keys create` / POST /v1/keys, if not revoked."""
    from journeys.store.db import session_scope
    from journeys.store.keys import active_digests, digest

    now = time.monotonic()
    cached = _stored.get(settings.database_url)
    if cached is None or now - cached[0] > STORED_KEYS_TTL:
        with session_scope(settings.database_url) as session:
            cached = (now, active_digests(session))
        _stored[settings.database_url] = cached
    return cached[1].get(digest(key))


def is_admin_key(settings: Settings, token: str) -> bool:
    if not token:
        return False
    key = settings.admin_key
    if key and hmac.compare_digest(token.encode(), key.encode()):
        return True
    return stored_key_kind(settings, token) == "admin"


def check_admin(settings: Settings, request: Request, basic_realm: str | None = None) -> None:
    """401 unless the request carries the admin key as a Bearer token; with no key set, every
    request is refused. With `basic_realm`, HTTP Basic with the admin key as password (any
    user name) is accepted too, and a refusal asks for it, so a browser prompts: only for
    read-only pages, since a browser sends remembered Basic credentials by itself."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    if basic_realm and header.lower().startswith("basic "):
        token = _basic_password(header[6:])
    if not is_admin_key(settings, token):
        challenge = f'Basic realm="{basic_realm}"' if basic_realm else "Bearer"
        raise ApiError(401, "missing or wrong admin key", headers={"WWW-Authenticate": challenge})


CONSOLE_COOKIE = "journeys_console"  # the admin key, set by the console's sign-in form


def check_console(settings: Settings, request: Request) -> None:
    """The console: the admin key as Bearer, as an HTTP Basic password, or in the cookie the
    sign-in form set. A browser with none of them is sent to the form (303), a wrong one 401."""
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(CONSOLE_COOKIE, "")
    if not header and not cookie:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = "/console/sign-in?" + urlencode({"next": back})
        raise ApiError(303, "sign in first", headers={"Location": target})
    if header:
        check_admin(settings, request, basic_realm="journeys console")
    elif not is_admin_key(settings, cookie):
        raise ApiError(401, "the console's sign-in has expired or the key was revoked",
                       headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def _basic_password(credentials: str) -> str:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.split(":", 1)[1] if ":" in decoded else ""


def check_write_key(settings: Settings, request: Request, candidate: object = None) -> None:
    """HTTP Basic with the write key as user name (Segment's way), else `candidate` (a
    `writeKey` from the body or the query); 401 unless it is one of the write keys."""
    key = candidate
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            key = base64.b64decode(header[6:], validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = None
    if (
        not isinstance(key, str)
        or not key
        or not (
            any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.write_keys)
            or stored_key_kind(settings, key) == "write"
        )
    ):
        raise ApiError(401, "missing or unknown write key", headers={"WWW-Authenticate": "Basic"})


def check_provider_token(settings: Settings, request: Request, channel: str) -> None:
    """Bearer token: the channel's provider token (SMS, push), or the provider webhook secret
    (any channel; the only one for email and webhooks); 401 otherwise."""
    header = request.headers.get("authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    own = {"sms": settings.sms_provider_token, "push": settings.push_provider_token}
    accepted = [t for t in (settings.provider_webhook_secret, own.get(channel)) if t]
    # every candidate is compared, so the time taken does not tell which one came close
    matches = [hmac.compare_digest(given.encode(), t.encode()) for t in accepted]
    if not given or not any(matches):
        raise ApiError(
            401, "missing or wrong provider token", headers={"WWW-Authenticate": "Bearer"}
        )

"""Who may call: write keys (`JOURNEYS_WRITE_KEYS`: tracking, popovers, recommendations for
websites, as in Segment) and the admin key (`JOURNEYS_ADMIN_KEY`, sent as `Authorization:
Bearer <key>`) that guards every management endpoint; the reports (api/reports.py) also take
it as an HTTP Basic password, so a browser can open the report page."""

import base64
import binascii
import hmac
from collections.abc import Callable

from fastapi import Request

from api.errors import ApiError
from config.settings import Settings


def admin_guard(settings: Settings, basic_realm: str | None = None) -> Callable[[Request], None]:
    """A dependency that refuses (401) a request without the admin key; with no key set,
    every request is refused. With `basic_realm`, HTTP Basic with the admin key as password
    (any user name) is accepted too, and a refusal asks for it, so a browser prompts: only
    for read-only pages, since a browser sends remembered Basic credentials by itself."""

    def admin(request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if basic_realm and header.lower().startswith("basic "):
            token = _basic_password(header[6:])
        key = settings.admin_key
        if not key or not token or not hmac.compare_digest(token.encode(), key.encode()):
            challenge = f'Basic realm="{basic_realm}"' if basic_realm else "Bearer"
            raise ApiError(
                401, "missing or wrong admin key", headers={"WWW-Authenticate": challenge}
            )

    return admin


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
    if not isinstance(key, str) or not any(
        hmac.compare_digest(key.encode(), k.encode()) for k in settings.write_keys
    ):
        raise ApiError(401, "missing or unknown write key", headers={"WWW-Authenticate": "Basic"})


def write_key_guard(settings: Settings) -> Callable[..., None]:
    """A dependency for GET routes websites call: the write key by Basic auth or `?writeKey=`."""

    def guard(request: Request, writeKey: str | None = None) -> None:  # noqa: N803  (Segment)
        check_write_key(settings, request, writeKey)

    return guard

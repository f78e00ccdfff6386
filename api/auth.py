"""The admin key (`JOURNEYS_ADMIN_KEY`, sent as `Authorization: Bearer <key>`) that guards every
management endpoint."""

import hmac
from collections.abc import Callable

from fastapi import Request

from api.errors import ApiError
from config.settings import Settings


def admin_guard(settings: Settings) -> Callable[[Request], None]:
    """A dependency that refuses (401) a request without the admin key; with no key set,
    every request is refused."""

    def admin(request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        key = settings.admin_key
        if not key or not token or not hmac.compare_digest(token.encode(), key.encode()):
            raise ApiError(
                401, "missing or wrong admin key", headers={"WWW-Authenticate": "Bearer"}
            )

    return admin

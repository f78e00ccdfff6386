"""The admin key the API tests configure, the header that sends it, and a write key's header
(HTTP Basic with the key as user name, as Segment's libraries send it)."""

import base64

ADMIN_KEY = "admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}

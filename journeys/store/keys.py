"""Write and admin keys kept as SHA-256 digests (JOURNEYS_WRITE_KEYS / JOURNEYS_ADMIN_KEY stay
as the bootstrap keys of a new install)."""

import hashlib
import secrets
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from journeys.store.models import ApiKey

KINDS = ("write", "admin")


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, kind: str, name: str) -> tuple[ApiKey, str]:
    """A new key: the row (with its digest) and the key itself, which is not stored."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    key_id = secrets.token_hex(6)
    key = f"{kind[0]}k_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(key_id=key_id, kind=kind, name=name, digest=digest(key),
                 created_at=datetime.now(UTC))  # fmt: skip
    session.add(row)
    return row, key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at))))


def revoke_key(session: Session, *, key_id: str) -> ApiKey | None:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
    return row


def active_digests(session: Session) -> dict[str, str]:
    """digest -> kind of every key not revoked."""
    query = select(ApiKey.digest, ApiKey.kind).where(col(ApiKey.revoked_at).is_(None))
    return {row[0]: row[1] for row in session.exec(query)}

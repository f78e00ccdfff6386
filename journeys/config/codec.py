"""Workflow payloads encrypted with AES-256-GCM before they reach Temporal (`JOURNEYS_PAYLOAD_KEY`):
customer traits and event properties in histories, inputs and results are unreadable to anyone
with access to the Temporal server or its database but without the key.

The key id travels in each payload's metadata, so a new key can be added in front of an old one
(`JOURNEYS_PAYLOAD_KEY=new,old`: encrypt with the first, decrypt with any). Payloads that are not
encrypted pass through decode untouched: switching encryption on does not break histories
written before it. Operators who hold the key read payloads in the Temporal UI and CLI through
the codec endpoint of the API (`/codec`, api/codec.py).
"""

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


def parse_keys(value: str) -> list[bytes]:
    """Comma-separated base64 keys of 32 bytes each (`openssl rand -base64 32`)."""
    keys = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            key = base64.b64decode(part, validate=True)
        except ValueError as err:
            raise ValueError(f"not base64: {err}") from err
        if len(key) != 32:
            raise ValueError(f"an AES-256 key is 32 bytes, this one is {len(key)}")
        keys.append(key)
    if not keys:
        raise ValueError("no key")
    return keys


def key_id(key: bytes) -> str:
    """A short, non-secret name for a key (what the metadata carries)."""
    return hashlib.sha256(key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[bytes]) -> None:
        self.current = keys[0]
        self.by_id = {key_id(key): AESGCM(key) for key in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher, kid = AESGCM(self.current), key_id(self.current)
        encoded = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: kid.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)  # written before encryption was on
                continue
            kid = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self.by_id.get(kid)
            if cipher is None:
                raise ValueError(f"payload encrypted with unknown key {kid!r}")
            try:
                plain = cipher.decrypt(payload.data[:12], payload.data[12:], None)
            except InvalidTag as err:
                raise ValueError("payload does not decrypt: tampered, or another key") from err
            decoded.append(Payload.FromString(plain))
        return decoded

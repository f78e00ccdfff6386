"""The embedded stack's folder and the keys `journeys up` makes in it on its first start, so
commands run beside it (`journeys simulate`) find them as `journeys up` printed them."""

import secrets
from pathlib import Path

DATA_DIR = Path(".journeys")  # `journeys up --data-dir`; the store's default URL is in it


def existing_dev_key(name: str, data_dir: Path = DATA_DIR) -> str | None:
    """The key a `journeys up` in this folder made, if it ran here."""
    key_file = data_dir / name
    return key_file.read_text().strip() if key_file.is_file() else None


def dev_key(data_dir: Path, name: str) -> str:
    """The key kept in `data_dir`, made (and kept) if there is none yet."""
    key = existing_dev_key(name, data_dir)
    if key is None:
        key = secrets.token_urlsafe(24)
        key_file = data_dir / name
        key_file.write_text(key)
        key_file.chmod(0o600)
    return key

"""`journeys db upgrade` and `db current`: where a store stands, and bringing it to the newest
revision; a store that cannot be reached is named, with a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import pytest

from journeys.store import schema
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e  # runs the `journeys` command

JOURNEYS = str(Path(sys.executable).parent / "journeys")


def db(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JOURNEYS, "db", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "JOURNEYS_DATABASE_URL": url},
    )


def test_upgrade_brings_a_new_store_to_the_newest_revision_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/journeys.db"
    behind = db("current", "--check", url=url)
    assert behind.returncode == 1 and "run `journeys db upgrade`" in behind.stdout
    assert db("current", url=url).returncode == 0  # without --check, only a report

    first = db("upgrade", url=url)
    assert first.returncode == 0, first.stderr
    assert f"upgraded from none (empty, or made by 0.1 without migrations) to {schema.head()}" in (
        first.stdout
    )
    again = db("upgrade", url=url)
    assert again.returncode == 0 and f"already at {schema.head()}" in again.stdout
    now = db("current", "--check", url=url)
    assert now.returncode == 0 and f"{schema.head()} (newest)" in now.stdout


@pytest.mark.parametrize("action", ["upgrade", "current"])
def test_an_unreachable_store_is_named_without_a_traceback(action: str) -> None:
    url = f"postgresql://journeys:secret@127.0.0.1:{free_port()}/journeys"
    result = db(action, url=url)
    assert result.returncode != 0
    assert "127.0.0.1" in result.stderr and "Traceback" not in result.stderr
    assert "secret" not in result.stderr  # the password is not printed

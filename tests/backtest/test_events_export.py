"""`journeys events export`: the store's accepted calls as the log a backtest reads."""

import json
import os
import subprocess
import sys

import pytest

from journeys.data import JOURNEYS
from journeys.store.db import upgrade_schema
from tests.helpers.backtest import stored


def journeys(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeys.cli.main", *args], capture_output=True, text=True,
        env={**os.environ, "JOURNEYS_DATABASE_URL": url}, timeout=300,
    )  # fmt: skip


def test_export_writes_delivered_calls_in_time_order_with_their_effective_time(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade_schema(url)
    stored(url)
    done = journeys("events", "export", url=url)
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in done.stdout.splitlines()]
    assert [c["messageId"] for c in calls] == ["m1", "m2", "m3"]  # m4 never reached Temporal
    assert calls[1]["timestamp"] == "2025-05-01T10:00:00+00:00" and "sentAt" not in calls[1]
    assert calls[1]["properties"] == {"total": 9.5}
    assert "3 calls" in done.stderr
    window = journeys("events", "export", "--from", "2025-05-02", "--output",
                      str(tmp_path / "later.ndjson"), url=url)  # fmt: skip
    assert window.returncode == 0 and window.stdout == ""
    assert [json.loads(x)["messageId"] for x in (tmp_path / "later.ndjson").open()] == ["m3"]
    wrong = journeys("events", "export", "--from", "2025-05-02", "--to", "2025-05-01", url=url)
    assert wrong.returncode != 0 and "--to must be after --from" in wrong.stderr
    missing = journeys("events", "export", url=f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode != 0 and "no store at" in missing.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.mark.slow
def test_an_export_is_a_backtest_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade_schema(url)
    stored(url)
    log = tmp_path / "log.ndjson"
    assert journeys("events", "export", "--output", str(log), url=url).returncode == 0
    done = journeys("backtest", str(JOURNEYS / "post_purchase.yaml"), "--events", str(log),
                    "--to", "2025-05-03", "--json", url=url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["entries"]["customers"] == 1  # bob ordered on 4 May, after the window
    assert report["messages"]["by_step"]["thanks"] == {"email": 1}

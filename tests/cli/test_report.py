"""`journeys report ...`, run as a user runs it (the installed command, in a subprocess) on the
store of tests/helpers/report_data.py: the same figures as the API, as aligned tables or JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from journeys.cli.text import table
from tests.helpers.report_data import seed

JOURNEYS = str(Path(sys.executable).parent / "journeys")


@pytest.fixture
def report(sqlite_url: str):  # type: ignore[no-untyped-def]
    seed(sqlite_url)
    env = {**os.environ, "JOURNEYS_DATABASE_URL": sqlite_url, "JOURNEYS_LOG_FORMAT": "json"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([JOURNEYS, "report", *args], capture_output=True, text=True,
                              env=env, timeout=60, check=False)  # fmt: skip

    return run


@pytest.mark.slow
def test_journeys_and_one_journey_as_tables(report) -> None:  # type: ignore[no-untyped-def]
    done = report("journeys")
    assert done.returncode == 0, done.stderr
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["journey", "entries", "conversions", "rate", "95%", "interval"],
        ["cart", "7", "4", "57.1%", "25.0%", "-", "84.2%"],
        ["welcome", "1", "-", "no", "goal", "-"],  # its spec has none: not "0.0%"
    ]
    quiet = report("journey", "welcome").stdout.splitlines()
    assert quiet[0] == "welcome: 1 entries, no goal"
    assert quiet[quiet.index("Steps (runs that reached the step)") + 1].split() == [
        "step", "entries",
    ]  # fmt: skip
    done = report("journey", "cart", "--version", "1", "--period", "week")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    rows = [line.split() for line in out.splitlines()]
    assert "cart v1: 6 entries, 4 converted, 66.7%" in out
    assert ["split", "4", "3", "75.0%", "30.1%", "-", "95.4%"] in rows
    assert "Experiment split (chi-square p = 0.248)" in out
    assert ["b", "1", "2", "2", "100.0%", "34.2%", "-", "100.0%", "80.0%"] in rows
    assert ["vip", "3", "3", "100.0%", "43.9%", "-", "100.0%"] in rows
    assert ["2026-01-12", "3", "2", "66.7%", "20.8%", "-", "93.9%"] in rows  # r4-r6 (r7: v2)
    every = report("journey", "cart").stdout.splitlines()  # both versions: v2's reminder too
    assert every[every.index("Steps (runs that reached the step)") + 5].split() == [
        "reminder", "0", "0", "-", "-",
    ]  # fmt: skip
    unknown = report("journey", "cart", "--version", "9")
    assert unknown.returncode == 1
    assert "journey 'cart' has no version 9 (it has 1, 2)" in unknown.stderr
    missing = report("journey", "nope")
    assert missing.returncode == 1 and "no journey 'nope'" in missing.stderr


@pytest.mark.slow
def test_funnel_nps_and_clv(report) -> None:  # type: ignore[no-untyped-def]
    funnel = report("funnel")
    assert funnel.returncode == 0, funnel.stderr
    lines = funnel.stdout.splitlines()
    assert lines[0].split() == ["stage", "customers", "next", "advanced", "conversion",
                                "median", "days", "mean", "days", "still", "in"]  # fmt: skip
    assert lines[1].split() == ["awareness", "4", "consideration", "3", "75.0%", "2.0", "2.0", "1"]
    assert any(line.split() == ["loyalty", "consideration", "1", "back"] for line in lines)
    nps = json.loads(report("nps", "--period", "week", "--journey", "cart", "--json").stdout)
    assert (nps["overall"]["responses"], nps["journey"]) == (3, "cart")
    assert [f["key"] for f in nps["trend"]] == ["2026-01-05", "2026-02-09"]
    unknown = report("nps", "--journey", "nope")  # an empty report said nothing was wrong
    assert unknown.returncode == 1 and "no journey 'nope'" in unknown.stderr
    clv = report("clv")
    assert "customers with orders" in clv.stdout and "185.00" in clv.stdout
    one = json.loads(report("clv", "--customer", "c1", "--json").stdout)
    assert (one["total"], one["orders"]) == (150.0, 2)
    unknown = report("clv", "--customer", "nobody")
    assert unknown.returncode == 1 and "no customer 'nobody'" in unknown.stderr
    bad = report("journeys", "--from", "last week")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_table_aligns_text_left_and_figures_right() -> None:
    assert table(["name", "n", "rate"], [["a", 1, "5.0%"], ["bbb", 100, "-"]]).splitlines() == [
        "name    n  rate",
        "a       1  5.0%",
        "bbb   100     -",
    ]

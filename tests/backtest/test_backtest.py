"""`journeys backtest` as a marketer runs it: a log of last year's calls through a journey spec on
the time-skipping server, nothing sent, the report on standard output."""

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.backtest import write_log
from journeys.backtest.events import EventLog
from journeys.charts.backtest import rows
from journeys.data import JOURNEYS
from journeys.store.consent import suppress
from journeys.store.db import session_scope, upgrade_schema
from tests.helpers.backtest import NO_NUDGE
from tests.helpers.browser import open_page

POST_PURCHASE = JOURNEYS / "post_purchase.yaml"
CAPPED = """
name: offers
trigger: {event: Order Completed}
re_entry: {policy: never}
steps:
  - {id: first, kind: send, channel: email, template: win_back_whats_new}
  - {id: pause, kind: wait, duration: 8d}
  - {id: second, kind: send, channel: email, template: win_back_10_off}
  - {id: soon, kind: wait, duration: 1d}
  - {id: third, kind: send, channel: email, template: win_back_20_off}
"""


def call(**fields: Any) -> str:
    return json.dumps(fields)


def shop_log(path: Path) -> Path:
    """Five customers ordering on 1–5 March 2025; u1 opens the app; u4 never gave an address."""
    lines = []
    for i in range(5):
        user = f"u{i}"
        if i != 4:
            lines.append(call(
                type="identify", userId=user, messageId=f"{user}-id",
                traits={"email": f"{user}@example.com"}, timestamp=f"2025-03-0{i + 1}T09:00:00Z",
            ))  # fmt: skip
        lines.append(call(
            type="track", userId=user, event="Order Completed", messageId=f"{user}-o1",
            properties={"order_id": f"o{i}", "total": 20.0 + i},
            timestamp=f"2025-03-0{i + 1}T10:00:00Z",
        ))  # fmt: skip
    lines.append(call(type="track", userId="u1", event="Application Opened",
                      messageId="u1-app", timestamp="2025-03-04T12:00:00Z"))  # fmt: skip
    path.write_text("\n".join(reversed(lines)) + "\n")  # any order: the backtest sorts by time
    return path


def backtest(
    *args: str | Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "journeys.cli.main", "backtest", *map(str, args)],
        capture_output=True, text=True, input=stdin, timeout=300,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def live_store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    upgrade_schema(url)
    return url, {"JOURNEYS_DATABASE_URL": url}


@pytest.mark.slow
def test_a_backtest_reports_each_send_skip_and_step_and_gives_the_same_json_twice(tmp_path):
    log = shop_log(tmp_path / "events.ndjson")
    url, env = live_store(tmp_path)
    with session_scope(url) as session:  # the live store's word holds in the backtest
        suppress(session, customer_id="u3", channel="email", reason="hard bounce")
    before = hashlib.sha256((tmp_path / "live.db").read_bytes()).hexdigest()
    first = backtest(POST_PURCHASE, "--events", log, "--to", "2025-03-20", "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["complete"] is True
    assert report["entries"] == {"runs": 5, "customers": 5, "refused": {}}
    # thanks, tips and survey by email to the three with an address and no bounce; the
    # usage nudge by push to all but u1, who opened the app
    assert report["messages"]["by_channel"] == {"email": 9, "push": 4}
    assert report["messages"]["by_step"]["nudge"] == {"push": 4}
    assert report["steps"][:3] == ["thanks", "settle_in", "tips"]  # the journey's order
    # post_purchase has no goal: no figures of one, where a rate of 0 read as a failure
    assert report["goals"] == {"event": None, "reached": None, "rate": None,
                               "hours_to_goal": {"median": None, "p90": None}}  # fmt: skip
    assert ("goal", "none: the journey has no goal") in rows(report)
    assert not any(label.startswith("goal rate") for label, _ in rows(report))
    table = [label for label, _ in rows(report) if label.startswith("sent at")]  # not A to Z
    assert table == [f"sent at {s}" for s in ("thanks (email)", "tips (email)", "nudge (push)",
                                              "survey (email)")]  # fmt: skip
    assert report["skipped"] == {"hard bounce": 3, "no email address": 3}
    assert report["completed"] == 5 and report["open"]["runs"] == 0
    assert "customer-days a second" in first.stderr
    again = backtest(POST_PURCHASE, "--events", log, "--to", "2025-03-20", "--json", env=env)
    assert again.stdout == first.stdout
    # two customers to a test server: three servers, one after another or side by side in
    # processes of their own, the same figures
    assert report.pop("shards") == {"run": 1, "of": 1}
    for jobs in ("1", "3"):
        sharded = backtest(POST_PURCHASE, "--events", log, "--to", "2025-03-20", "--json",
                           "--shard-size", "2", "--jobs", jobs, env=env)  # fmt: skip
        assert sharded.returncode == 0, sharded.stderr
        in_shards = json.loads(sharded.stdout)
        assert in_shards.pop("shards") == {"run": 3, "of": 3}
        assert in_shards == report, jobs
    assert hashlib.sha256((tmp_path / "live.db").read_bytes()).hexdigest() == before


@pytest.mark.slow
def test_two_versions_side_by_side_and_one_customers_path(tmp_path):
    log = shop_log(tmp_path / "events.ndjson")
    v2 = tmp_path / "v2.yaml"
    v2.write_text(NO_NUDGE)
    page = tmp_path / "report.html"
    done = backtest(POST_PURCHASE, v2, "--events", log, "--to", "2025-03-06", "--json",
                    "--explain", "u2", "--html", page)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout[: done.stdout.index("\nu2 in ")])
    # by 6 March the first four have their thanks and tips is due for the first three
    assert report["a"]["messages"]["by_step"] == report["b"]["messages"]["by_step"]
    assert report["a"]["open"]["runs"] == 5 and report["b"]["completed"] == 3
    assert report["difference"]["completed"] == 3
    assert (report["a"]["spec"], report["b"]["spec"]) == (str(POST_PURCHASE), str(v2))  # as typed
    path = done.stdout[done.stdout.index("\nu2 in a: post_purchase (post_purchase.yaml):") :]
    path = path.splitlines()
    said = [line.split("  ", 1)[1] for line in path if line.startswith("2025-")]
    assert said[:3] == ["event  identify", "event  Order Completed",
                        "entered: v1  [journey-post_purchase-u2-1]"]  # fmt: skip
    assert "email order_thanks: sent" in said
    assert any(line.startswith("2025-03-05 10:00  email getting_started_tips: sent")
               for line in path)  # fmt: skip
    # the page: the figures table with b − a, and its four charts drawn in a real browser
    html = page.read_text()
    assert (
        "<th>a: post_purchase (post_purchase.yaml)</th><th>b: post_purchase (v2.yaml)</th>"
        "<th>b − a</th>"
    ) in html  # two versions of one journey: their files tell them apart
    assert "<tr><td>completed</td><td>0</td><td>3</td><td>+3</td></tr>" in html
    drawn = open_page(html, tmp_path, "backtest")
    assert drawn.ready and drawn.errors == "" and drawn.outside == []
    assert drawn.rendered == "4 charts"
    sends = {
        t["name"]: dict(zip(t["x"], t["y"], strict=True)) for t in drawn.charts["chart-messages"]
    }
    for side in (report["a"], report["b"]):
        label = f"{'a' if side is report['a'] else 'b'}: post_purchase ({Path(side['spec']).name})"
        for step, channels in side["messages"]["by_step"].items():
            for channel, count in channels.items():
                assert sends[f"{label}: {channel}"][step] == count, (label, step, channel)
    skipped = {
        t["name"]: dict(zip(t["y"], t["x"], strict=True)) for t in drawn.charts["chart-skipped"]
    }
    held = skipped["a: post_purchase (post_purchase.yaml)"]
    assert held == {reason: report["a"]["skipped"].get(reason, 0) for reason in held}


@pytest.mark.slow
def test_a_visitors_path_before_signing_up_is_explained_at_its_simulated_times(tmp_path):
    """A visitor sees the welcome popover as an anonymousId and signs up days later: the
    explained path of the userId has the visit's run and popover (the rows keep the visit's id
    after the merge), at the simulated minute of the page view — a popover's send, a local
    activity, stamped its ledger row with the wall clock."""
    calls = [
        call(type="page", anonymousId="a7", timestamp="2025-01-06T09:30:00Z"),
        call(type="identify", anonymousId="a7", userId="u7", traits={"email": "u7@example.com"},
             timestamp="2025-01-09T12:00:00Z"),
        call(type="track", userId="u7", event="Signed Up", timestamp="2025-01-09T12:01:00Z"),
    ]  # fmt: skip
    log = tmp_path / "visits.ndjson"
    log.write_text("\n".join(calls) + "\n")
    done = backtest(JOURNEYS / "welcome.yaml", "--events", log, "--explain", "u7")
    assert done.returncode == 0, done.stderr
    figures = done.stdout[: done.stdout.index("\nu7:")]
    assert "goals reached" in figures and "goal rate, 95% interval" in figures  # Signed Up
    path = done.stdout[done.stdout.index("\nu7:") :].splitlines()
    assert (
        "2025-01-06 09:30  popover welcome_popover: queued (waiting for the customer's next"
        " page view)" in path
    )
    assert any(line.startswith("2025-01-06 09:30  step   hello: popover queued  [journey-welcome-"
                               "anon-a7-1]") for line in path)  # fmt: skip


@pytest.mark.slow
def test_caps_count_simulated_days_and_csv_logs_are_read(tmp_path):
    """A cap of one offer a week lets sends eight days apart through and stops the one a day
    later: the cap reads the simulated clock, not the seconds the backtest takes."""
    spec = tmp_path / "offers.yaml"
    spec.write_text(CAPPED)
    rows = [
        "customer_id,timestamp,event,properties",
        '7,2024-11-04,Order Completed,"{""total"": 5}"',
    ]
    log = tmp_path / "orders.csv"
    log.write_text("\n".join(rows) + "\n")
    url, env = live_store(tmp_path)
    env["JOURNEYS_FREQUENCY_CAPS"] = "email:1/7d"
    ndjson = call(type="identify", userId="7", traits={"email": "seven@example.com"},
                  timestamp="2024-11-01T08:00:00Z")  # fmt: skip
    orders = [
        call(type="track", userId="7", event="Order Completed", properties={"total": 5},
             timestamp=f"2024-11-{day}T00:00:00Z")
        for day in ("04", "06", "15")
    ]  # fmt: skip
    done = backtest(spec, "--events", "-", "--json", "--to", "2024-11-20",
                    env=env, stdin="\n".join([ndjson, *orders]) + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["messages"]["by_step"] == {"first": {"email": 1}, "second": {"email": 1}}
    assert report["skipped"] == {"frequency cap: 1 email per 7 days": 1}
    # the second order came during the run, the third after it (re-entry: never)
    assert report["entries"] == {"runs": 1, "customers": 1, "refused": {
        "already in the journey": 1, "re-entry: never": 1}}  # fmt: skip
    from_csv = backtest(spec, "--events", log, "--csv", "--json", "--to", "2024-11-20", env=env)
    assert from_csv.returncode == 0, from_csv.stderr
    report = json.loads(from_csv.stdout)
    assert report["entries"]["runs"] == 1 and report["skipped"] == {"no email address": 3}


def test_shards_keep_the_ids_of_one_person_together_and_split_evenly(tmp_path):
    """An anonymous visitor identified later, and an alias, must land in one test server: a
    merge cannot cross two."""
    lines = [call(type="page", anonymousId=f"a{n}", timestamp="2025-01-01T00:00:00Z")
             for n in range(9)]  # fmt: skip
    lines += [call(type="identify", anonymousId=f"a{n}", userId=f"u{n}",
                   timestamp="2025-01-02T00:00:00Z") for n in range(0, 9, 2)]  # fmt: skip
    lines.append(call(type="alias", previousId="u0", userId="u9", timestamp="2025-01-03"))
    lines.append(call(type="track", userId="u9", event="Order Completed", timestamp="2025-01-04"))
    log = EventLog(tmp_path)
    summary = log.load(io.StringIO("\n".join(lines)), name="log")
    assert summary.customers == 9  # people, not ids (15): the report's "customers in the log"
    assert log.split(3) == 3  # nine people: a0/u0/u9 are one, as are a2/u2, ..., a8/u8
    customers: dict[int, set[str]] = {}
    for shard in range(3):
        for _, calls in log.slots(timedelta(days=1), shard):
            customers.setdefault(shard, set()).update(
                c.userId or c.anonymousId or "" for c in calls
            )
    # every person was first seen as a visitor a0 … a8: three to a shard
    assert [len({id for id in c if id.startswith("a")}) for c in customers.values()] == [3, 3, 3]
    together = [{"a0", "u0", "u9"}, {"a2", "u2"}, {"a4", "u4"}, {"a6", "u6"}, {"a8", "u8"}]
    for person in together:
        assert sum(person <= c for c in customers.values()) == 1, person
    log.close()


def test_bad_input_is_refused_with_the_file_line_and_field(tmp_path):
    log = tmp_path / "events.ndjson"
    log.write_text(call(type="track", userId="u", event="X", timestamp="2025-01-01") + "\n"
                   + call(type="track", userId="u", event="Y") + "\n")  # fmt: skip
    done = backtest(POST_PURCHASE, "--events", log)
    assert done.returncode == 1
    assert f"{log}:2: timestamp: required in a backtest" in done.stderr
    log.write_text('{"type": "track", "userId": "u", "timestamp": "2025-01-01"}\n')
    assert "1: call: Value error, event: track needs an event name" in backtest(
        POST_PURCHASE, "--events", log).stderr  # fmt: skip
    log.write_text(call(type="track", userId="u", event="X", timestamp="2025-01-01") + "\n{\n")
    done = backtest(POST_PURCHASE, "--events", log)
    assert done.returncode == 1 and f"{log}:2: not JSON (Expecting property name" in done.stderr
    bad_csv = tmp_path / "orders.csv"
    bad_csv.write_text("7,yesterday,Order Completed\n")
    done = backtest(POST_PURCHASE, "--events", bad_csv, "--csv")
    assert done.returncode == 1 and f"{bad_csv}:1: timestamp: not a date" in done.stderr
    bad_csv.write_text("7,2025-01-01,Order Completed,{total: 5}\n")
    done = backtest(POST_PURCHASE, "--events", bad_csv, "--csv")
    assert done.returncode == 1 and f"{bad_csv}:1: properties: not JSON" in done.stderr
    done = backtest(POST_PURCHASE, "--events", tmp_path / "missing.ndjson")
    assert done.returncode == 1 and "No such file or directory" in done.stderr
    log.write_text(call(type="track", userId="u", event="X", timestamp="2025-01-01") + "\n")
    done = backtest(POST_PURCHASE, "--events", log, "--from", "2026-01-01")
    assert done.returncode == 1 and "no calls in the window" in done.stderr
    done = backtest(POST_PURCHASE, "--events", log, "--from", "2026-01-01", "--to", "2025-01-01")
    assert done.returncode == 1 and "--to must be after --from" in done.stderr
    done = backtest(POST_PURCHASE, "--events", log, "--html", tmp_path / "no" / "page.html")
    assert done.returncode == 1 and "--html: no such folder" in done.stderr
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: broken\nsteps: []\n")
    done = backtest(spec, "--events", log)
    assert done.returncode == 1 and "error(s) in the spec" in done.stderr


SHARDS = ["--shard-size", "100", "--jobs", "3"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sharding", "after_s"),
    [([], 5), (SHARDS, 5), (SHARDS, None)],
    ids=["one-process", "shards-side-by-side", "shards-just-starting"],
)
def test_ctrl_c_stops_with_a_partial_report(tmp_path, sharding, after_s):
    """Ctrl-C as the shard processes are still starting (`after_s` None: as soon as they are
    there) once made one abort as it exited (exit -6), and the parent killed the others,
    leaving their test servers holding the pipes. Otherwise it comes `after_s` after the first
    test server started (counted from the command's start, a loaded machine was still
    importing)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    lines = [
        call(type="track", userId=f"c{n}", event="Order Completed", messageId=f"m{n}",
             properties={"total": 1}, timestamp=(start + timedelta(days=n)).isoformat())
        for n in range(300)
    ]  # fmt: skip
    log = tmp_path / "year.ndjson"
    log.write_text("\n".join(lines) + "\n")
    mark = f"ctrl-c-{uuid.uuid4()}"  # in the environment of every process the backtest starts
    child = subprocess.Popen(
        [sys.executable, "-m", "journeys.cli.main", "backtest", str(POST_PURCHASE),
         "--events", str(log), "--json", *sharding],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "JOURNEYS_TEST_MARK": mark},
    )  # fmt: skip
    # until they are there (imports take a while on a loaded machine): the shard processes, or
    # a test server, which the backtest (or a shard) starts once it has loaded
    started = "journeys.backtest.shard" if after_s is None else "temporal-test-server"
    deadline = time.monotonic() + 60
    while not running(mark, started) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(after_s or 0)
    child.send_signal(signal.SIGINT)  # to the command only, as a terminal's Ctrl-C
    try:
        out, err = child.communicate(timeout=120)
    finally:
        left = processes_marked(mark)
        for pid in left:  # not into the next tests
            os.kill(pid, signal.SIGKILL)
    assert left == []
    assert child.returncode == 130, err
    report = json.loads(out)
    assert report["complete"] is False
    assert report["entries"]["runs"] < 300
    assert report["window"]["from"] <= report["window"]["to"] < "2024-10-27"
    if after_s is not None:
        assert report["entries"]["runs"] > 0
    if sharding:  # the shards under way stopped and reported
        assert report["shards"]["of"] == 3 and report["shards"]["run"] >= 1


def running(mark: str, command: str) -> list[int]:
    """The marked processes whose command line names `command`."""
    found = []
    for pid in processes_marked(mark):
        try:
            if command.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:  # gone
            continue
    return found


def processes_marked(mark: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"JOURNEYS_TEST_MARK={mark}".encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours
            continue
    return found


@pytest.mark.slow
def test_win_back_enters_lapsed_cdnow_buyers_once_the_fit_and_refresh_run_in_simulated_time(
    tmp_path,
):
    """win_back triggers on entering churn_risk, which needs the CLV fit's p_alive and the
    segment refresh: the backtest runs both on the simulated clock. Real buyers (CDNOW's first
    200, from the lifetimes wheel) until July 1997, a refresh a week and a fit every four."""
    log = tmp_path / "cdnow.ndjson"
    write_log(log, 200)
    done = backtest(JOURNEYS / "win_back.yaml", "--events", log, "--json", "--to", "1997-07-01",
                    "--refresh-every", "7d", "--clv-fit-every", "28d")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    entered = report["entries"]["runs"]
    assert entered >= 10, report  # without the fit and the refresh, nobody enters
    assert report["messages"]["by_step"]["whats_new"] == {"email": entered}

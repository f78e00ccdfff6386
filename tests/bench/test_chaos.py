"""bench/chaos.py: its verdict fails on each broken promise, and on this machine a small run
with every kind of fault passes."""

import json
from collections import Counter
from typing import Any

import pytest

import bench.chaos as chaos_module
from bench.chaos import Outcome, compare, main


def outcome(**changes: Any) -> Outcome:
    base: dict[str, Any] = {
        "customers": {"a": {"stage": "decision", "events_total": 5}, "b": {"events_total": 5}},
        "runs": {"journey-welcome-a-1": ("RUNNING", "wait"),
                 "journey-welcome-b-1": ("RUNNING", "wait")},
        "messages": Counter({"<m1@x>": 1, "<m2@x>": 1, "<m3@x>": 1, "/sms k1": 1}),
        "stuck": [],
        "backlog": 0,
    }  # fmt: skip
    return Outcome(**(base | changes))


FIGURES: dict[str, Any] = {
    "calls": 10,
    "calls_retried": 3,
    "calls_not_accepted": [],
    "state_queries": {
        "sent": 5, "over_2s_or_failed": 1, "over_2s_or_failed_answerable": 0,
        "worst_answerable_s": 0.5, "errors_answerable": [], "slow_answerable": [],
    },
}  # fmt: skip


def failed(reference: Outcome, chaos: Outcome, figures: dict[str, Any] = FIGURES) -> list[str]:
    return [c["check"] for c in compare(reference, chaos, figures) if not c["ok"]]


def test_the_same_outcome_passes_and_a_redelivery_under_the_same_id_is_only_counted() -> None:
    assert failed(outcome(), outcome()) == []
    redelivered = outcome(messages=Counter({"<m1@x>": 2, "<m2@x>": 1, "<m3@x>": 1, "/sms k1": 1}))
    checks = compare(outcome(), redelivered, FIGURES)
    assert all(c["ok"] for c in checks)
    assert any("1 redelivered under the same id" in c["detail"] for c in checks)


def test_an_incomplete_reference_fails_the_verdict() -> None:
    """A reference that timed out (an owed email missing) or whose states could not be read
    cannot vouch for the chaos run, even when both runs went wrong the same way."""
    short = outcome(messages=Counter({"<m1@x>": 1}))
    assert failed(short, short) == ["the reference is whole (every state read, every owed "
                                    "email received)"]  # fmt: skip
    unreadable = outcome(customers={"a": {"error": "RPCError"}, "b": {"events_total": 5}})
    assert "the reference is whole" in failed(unreadable, unreadable)[0]


@pytest.mark.parametrize(
    ("chaos", "figures", "check"),
    [
        (
            outcome(
                customers={"a": {"stage": "decision", "events_total": 6}, "b": {"events_total": 5}}
            ),
            FIGURES,
            "each event applied once",
        ),
        (
            outcome(customers={"a": {"stage": "decision", "events_total": 5}}),
            FIGURES,
            "each event applied once",
        ),
        (
            outcome(
                runs={
                    "journey-welcome-a-1": ("COMPLETED", "done"),
                    "journey-welcome-b-1": ("RUNNING", "wait"),
                }
            ),
            FIGURES,
            "status and step",
        ),
        (outcome(messages=Counter({"<m1@x>": 1, "/sms k1": 1})), FIGURES, "every message"),
        (
            outcome(
                messages=Counter({"<m1@x>": 1, "<m2@x>": 1, "<m3@x>": 1, "<m4@x>": 1, "/sms k1": 1})
            ),
            FIGURES,
            "every message",
        ),
        (
            outcome(customers={"a": {"error": "RPCError"}, "b": {"events_total": 5}}),
            FIGURES,
            "each event applied once",
        ),
        (outcome(stuck=["customer-a: workflow task attempt 3"]), FIGURES, "nothing stuck"),
        (outcome(backlog=4), FIGURES, "nothing stuck"),
        (outcome(), FIGURES | {"calls_not_accepted": ["HTTP 400: bad"]}, "every call accepted"),
        (
            outcome(),
            FIGURES
            | {"state_queries": FIGURES["state_queries"] | {"over_2s_or_failed_answerable": 1}},
            "state queries",
        ),
    ],  # fmt: skip
    ids=[
        "applied twice",
        "customer lost",
        "run elsewhere",
        "message lost",
        "message extra",
        "state unreadable",
        "task failing",
        "backlog",
        "call refused",
        "slow query",
    ],  # fmt: skip
)
def test_each_broken_promise_fails_the_verdict(
    chaos: Outcome, figures: dict[str, Any], check: str
) -> None:
    broken = failed(outcome(), chaos, figures)
    assert len(broken) == 1 and check in broken[0], broken


@pytest.mark.slow
@pytest.mark.e2e
def test_a_small_chaos_run_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind of fault, while 36 customers send for 36 s (long enough that the faults after
    a lone worker's catch-up and drain still meet traffic): real processes killed, restarted.
    The suite's other process shares the two cores, so a state query gets 8 s here; the 2 s
    promise is `make chaos`'s, on an idle machine (2.02, 2.65 and, on a clean clone at half
    this machine's usual speed, 7.5 s seen under the suite; six runs side by side met 2 s)."""
    monkeypatch.setattr(chaos_module, "QUERY_BUDGET_S", 8.0)
    code = main(["--customers", "36", "--rate", "1.0", "--faults", "worker,api,server,pair",
                 "--json", "--timeout", "300"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    chaos = report["chaos"]
    assert [f["fault"] for f in chaos["faults"]] == ["worker", "api", "server", "pair"]
    assert chaos["calls_retried"] > 0  # the API and server faults really hit the traffic
    assert all(f["back_s"] is not None for f in chaos["faults"][:3])

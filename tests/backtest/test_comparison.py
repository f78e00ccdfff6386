"""Two versions compared: the goal rate's difference comes with its 95% interval and p-value,
so a marketer does not read a gap chance explains as a better version."""

from typing import Any

from journeys.backtest.report import compare
from journeys.cli.backtest import _table


def report(runs: int, reached: int | None, spec: str) -> dict[str, Any]:
    """A backtest report's figures the comparison reads (`build_report`'s shape)."""
    return {
        "journey": "win_back", "spec": spec, "steps": ["offer"], "complete": True,
        "window": {"from": "1997-01-01T00:00:00", "to": "1998-07-01T00:00:00"},
        "log": {"calls": 4316, "customers": 1000},
        "entries": {"runs": runs, "customers": runs, "refused": {}},
        "messages": {"by_channel": {"email": runs}, "by_step": {"offer": {"email": runs}}},
        "skipped": {}, "failed": {}, "waiting": {}, "exits": {}, "completed": runs,
        "goals": {"event": None if reached is None else "Order Completed", "reached": reached,
                  "rate": None if reached is None else round(reached / runs, 4),
                  "hours_to_goal": {"median": None, "p90": None}},
        "open": {"runs": 0, "after_step": {}},
    }  # fmt: skip


def lines(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    """The terminal table's rows, by label."""
    rows = [line.split("  ") for line in _table([a, b]).splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:] if c.strip()] for cells in rows}


def test_a_gap_chance_explains_has_an_interval_across_zero() -> None:
    """The CDNOW win_back with 3-day waits for 7-day ones (1,000 customers): 26 of 245 runs
    against 15 of 250 reached the goal, a 4.6-point drop that 1,000 customers cannot tell from
    chance."""
    a, b = report(245, 26, "win_back.yaml"), report(250, 15, "win_back_v2.yaml")
    gap = compare(a, b)["difference"]["goals"]
    assert gap["rate"] == -0.0461
    low, high = gap["rate_interval"]
    assert low < -0.0461 < high and high > 0  # the interval holds the gap, and no change
    assert 0.05 < gap["rate_p_value"] < 0.2
    table = lines(a, b)
    assert table["goal rate, 95% interval"][-1] == f"{low:+.4f} – {high:+.4f}"
    assert table["goal rate, p (no difference)"] == ["-", "-", f"{gap['rate_p_value']:.2g}"]


def test_a_clear_gap_has_an_interval_clear_of_zero() -> None:
    a, b = report(1000, 100, "a.yaml"), report(1000, 200, "b.yaml")
    gap = compare(a, b)["difference"]["goals"]
    low, high = gap["rate_interval"]
    assert 0 < low < 0.1 < high and gap["rate_p_value"] < 0.001


def test_journeys_without_a_goal_have_no_gap_to_test() -> None:
    a, b = report(40, None, "a.yaml"), report(50, None, "b.yaml")
    assert "rate_interval" not in compare(a, b)["difference"].get("goals", {})
    assert not any(label.startswith("goal rate") for label in lines(a, b))

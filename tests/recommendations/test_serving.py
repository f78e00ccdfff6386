"""Serving: exclusions and the cold-start chain (never an error)."""

import pytest

from journeys.recommendations import people_like_you, serving, similar, trending
from journeys.recommendations.types import CatalogueItem, Customer, Interaction

NOW = 1_800_000_000.0
CATALOGUE = ["p1", "p2", "p3", "p4", "p5"]


def sales() -> list[Interaction]:
    rows = [Interaction(f"c{i}", "p3", NOW - 3600) for i in range(5)]
    rows += [Interaction(f"c{i}", "p4", NOW - 3600) for i in range(3)]
    rows += [Interaction(f"c{i}", "p3", NOW - 3600) for i in range(5, 8)]
    rows += [Interaction(f"c{i}", "p1", NOW - 3600) for i in range(5, 8)]
    return rows


def picks(served: serving.Served) -> list[tuple[str, str]]:
    return [(p.product, p.source) for p in served.picks]


@pytest.mark.parametrize("kind", serving.KINDS)
def test_no_model_yet_answers_in_catalogue_order(kind: str) -> None:
    served = serving.recommend(kind, {}, customer=Customer(), k=2, catalogue=CATALOGUE)
    assert picks(served) == [("p1", "catalogue"), ("p2", "catalogue")]
    assert served.fallback


def test_a_customer_without_history_gets_trending_then_best_sellers_then_catalogue() -> None:
    model = trending.fit(sales(), now=NOW)
    cf = people_like_you.fit(sales())
    served = serving.recommend(
        "people_like_you",
        {"trending": model, "people_like_you": cf},
        customer=Customer(),
        k=5,
        catalogue=CATALOGUE,
    )
    assert served.fallback == "no history"
    assert picks(served)[:3] == [("p3", "trending"), ("p1", "trending"), ("p4", "trending")]
    assert [p for p, _ in picks(served)[3:]] == ["p2", "p5"]  # catalogue order


def test_bought_products_are_excluded_unless_the_flag_says_consumables() -> None:
    models = {"trending": trending.fit(sales(), now=NOW)}
    me = Customer(history=["p3"], purchased={"p3"})
    served = serving.recommend("trending", models, customer=me, k=1, catalogue=CATALOGUE)
    assert picks(served) == [("p1", "trending")]
    again = serving.recommend(
        "trending", models, customer=me, k=1, exclude_purchased=False, catalogue=CATALOGUE
    )
    assert picks(again) == [("p3", "trending")]


def test_unknown_seeds_are_ignored_and_the_answer_is_filled() -> None:
    models = {
        "trending": trending.fit(sales(), now=NOW),
        "similar": similar.fit([CatalogueItem(p, name=f"thing {p}") for p in CATALOGUE]),
    }
    served = serving.recommend(
        "similar", models, customer=Customer(), k=3, seeds=["nope"], catalogue=CATALOGUE
    )
    assert [p for p, _ in picks(served)] == ["p3", "p1", "p4"]
    assert served.fallback == "nothing found for this customer"


def test_seed_kinds_start_from_the_customers_recent_products_without_seeds() -> None:
    catalogue = [
        CatalogueItem("tent", "Dome tent", "Two person tent"),
        CatalogueItem("tarp", "Tent tarp", "Footprint for the dome tent"),
        CatalogueItem("mug", "Coffee mug", "Enamel"),
    ]
    models = {"similar": similar.fit(catalogue)}
    me = Customer(history=["mug", "tent"], purchased={"tent"})
    served = serving.recommend("similar", models, customer=me, k=1)
    assert picks(served) == [("tarp", "similar")]
    assert served.fallback is None


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        serving.recommend("psychic", {}, customer=Customer(), k=1)

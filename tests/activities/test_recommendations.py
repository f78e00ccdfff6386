"""Training and serving through the activities on a SQLite store."""

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from journeys.activities.recommendations import RecommendationActivities
from journeys.recommendations import trending
from journeys.recommendations.types import Interaction
from journeys.store import recommendations as store
from journeys.store.db import session_scope
from journeys.vocabulary.recommendation_types import RecommendInput, TrainRecommendersInput

KINDS = {"trending", "people_like_you", "related", "bought_together", "similar"}


def test_training_stores_a_version_of_every_kind_and_heartbeats(shop: str) -> None:
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    acts = RecommendationActivities(shop)
    first = env.run(acts.train_recommenders, TrainRecommendersInput())
    assert first.versions == dict.fromkeys(KINDS, 1)
    assert first.interactions == 10 * 2 + 20 + 1 + 1 and first.products == 5
    assert "fitting people_like_you" in beats
    second = env.run(acts.train_recommenders, TrainRecommendersInput())
    assert set(second.versions.values()) == {2}


def test_serving_the_trained_models(shop: str) -> None:
    acts = RecommendationActivities(shop, refresh_seconds=0)
    acts.train_recommenders(TrainRecommendersInput())
    ask = acts.recommend_products

    cf = ask(RecommendInput(customer_id="me", kind="people_like_you", count=1))
    assert [c.product_id for c in cf.products] == ["tarp"]  # 9 of 10 tent buyers took one
    assert cf.model_version == 1 and cf.fallback is None
    assert cf.products[0].name == "Tent tarp" and cf.products[0].price == 29.0
    assert cf.products[0].extra["source"] == "people_like_you"

    together = ask(RecommendInput(customer_id="me", kind="bought_together", count=1,
                                  product_ids=["tent"]))  # fmt: skip
    assert [c.product_id for c in together.products] == ["tarp"]

    top = ask(RecommendInput(customer_id="me", kind="trending", count=5))
    assert [c.product_id for c in top.products][0] == "socks"
    assert "tent" not in [c.product_id for c in top.products]  # bought
    again = ask(RecommendInput(customer_id="me", kind="trending", count=5, exclude_purchased=False))
    assert "tent" in [c.product_id for c in again.products]

    alike = ask(RecommendInput(customer_id="viewer", kind="similar", count=1))
    assert [c.product_id for c in alike.products] == ["tent"]  # from the viewed stove: camping


def test_related_serves_the_live_links_then_similar(shop: str) -> None:
    acts = RecommendationActivities(shop, refresh_seconds=0)
    acts.train_recommenders(TrainRecommendersInput())
    with session_scope(shop) as session:
        store.set_links(session, product_id="tent", related=["mug", "stove"])
    answer = acts.recommend_products(
        RecommendInput(customer_id="newbie", kind="related", count=3, product_ids=["tent"])
    )
    assert [c.product_id for c in answer.products][:2] == ["mug", "stove"]
    assert [c.extra["source"] for c in answer.products] == ["related", "related", "similar"]
    assert answer.model_version is None and answer.fallback is None


def test_cold_start_never_fails(shop: str) -> None:
    acts = RecommendationActivities(shop, refresh_seconds=0)
    # no model trained yet: catalogue order
    answer = acts.recommend_products(RecommendInput(customer_id="ghost", kind="people_like_you"))
    assert answer.model_version is None and answer.fallback == "no model trained yet"
    assert [c.product_id for c in answer.products] == ["mug", "socks", "stove", "tarp"]
    acts.train_recommenders(TrainRecommendersInput())
    answer = acts.recommend_products(RecommendInput(customer_id="newbie", kind="people_like_you"))
    assert answer.fallback == "no history" and answer.model_version is None
    assert answer.products[0].product_id == "socks"
    assert answer.products[0].extra["source"] == "trending"
    assert acts.serve(RecommendInput(customer_id="ghost", kind="trending"), True) is None


def test_a_newer_version_is_picked_up_after_the_refresh_interval(shop: str) -> None:
    acts = RecommendationActivities(shop, refresh_seconds=3600)
    acts.train_recommenders(TrainRecommendersInput())
    ask = RecommendInput(customer_id="newbie", kind="trending", count=1)
    assert acts.recommend_products(ask).products[0].product_id == "socks"
    with session_scope(shop) as session:  # a newer model that prefers the mug
        model = trending.fit([Interaction("x", "mug", 1e9, 100)])
        assert store.save_model(session, model=model, trained_at=datetime.now(UTC)) == 2
    assert acts.recommend_products(ask).products[0].product_id == "socks"  # cached
    acts.refresh_seconds = 0
    answer = acts.recommend_products(ask)
    assert answer.products[0].product_id == "mug" and answer.model_version == 2


def test_an_unknown_kind_fails_for_good(shop: str) -> None:
    acts = RecommendationActivities(shop)
    with pytest.raises(ApplicationError) as err:
        acts.recommend_products(RecommendInput(customer_id="me", kind="psychic"))
    assert err.value.non_retryable

"""Recommendation activities: train every recommender from the store (`train_recommenders`,
run by the scheduled RecommendationTrainingWorkflow) and serve one kind's products
(`recommend_products`, a journey's `recommend` step; the API's recommendations route shares
`serve`).

Serving keeps the latest model of each kind in memory and asks the store for newer versions at
most every `refresh_seconds` (one `max(version)` query), so a new training is picked up within
seconds without reloading megabytes per request.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys.recommendations import bought_together, people_like_you, related, similar, trending
from journeys.recommendations.serving import HISTORY_SEEDS, KINDS, recommend
from journeys.recommendations.types import Customer, Model
from journeys.store import recommendations as store
from journeys.store.db import session_scope
from journeys.vocabulary.activity_refs import RECOMMEND_PRODUCTS, TRAIN_RECOMMENDERS
from journeys.vocabulary.recommendation_types import (
    ProductCard,
    Recommendations,
    RecommendInput,
    TrainRecommendersInput,
    TrainRecommendersResult,
)

MAX_COUNT = 100


class RecommendationActivities:
    def __init__(self, database_url: str, refresh_seconds: float = 5.0) -> None:
        self.database_url = database_url
        self.refresh_seconds = refresh_seconds
        self._models: dict[str, tuple[int, Model]] = {}
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    @activity.defn(name=TRAIN_RECOMMENDERS.name)
    def train_recommenders(self, input: TrainRecommendersInput) -> TrainRecommendersResult:
        """Fit every kind on the last `window_days` of orders and product events and store a
        new version of each. A retried attempt stores newer versions: harmless, serving takes
        the newest."""
        now = datetime.now(UTC)
        _beat("reading")
        with session_scope(self.database_url) as session:
            interactions = store.interactions(
                session, since=now - timedelta(days=input.window_days)
            )
            catalogue = store.catalogue(session)
            links = store.links(session)
        fitters = {
            trending.KIND: lambda: trending.fit(
                interactions, catalogue, half_life_days=input.half_life_days, now=now.timestamp()
            ),
            people_like_you.KIND: lambda: people_like_you.fit(
                interactions, neighbours=input.neighbours
            ),
            bought_together.KIND: lambda: bought_together.fit(
                interactions, neighbours=input.neighbours
            ),
            similar.KIND: lambda: similar.fit(catalogue, neighbours=input.neighbours),
            related.KIND: lambda: related.fit(links),
        }
        versions = {}
        for kind, fit in fitters.items():
            _beat(f"fitting {kind}")
            model = fit()
            with session_scope(self.database_url) as session:
                versions[kind] = store.save_model(session, model=model, trained_at=now)
        if activity.in_activity():
            activity.logger.info(
                "recommenders trained",
                extra={"versions": versions, "interactions": len(interactions)},
            )
        return TrainRecommendersResult(
            versions=versions, interactions=len(interactions), products=len(catalogue)
        )

    @activity.defn(name=RECOMMEND_PRODUCTS.name)
    def recommend_products(self, input: RecommendInput) -> Recommendations:
        """Never fails for want of data: an unknown customer gets the cold-start answer. An
        unknown kind fails for good (publishing should have refused it)."""
        if input.kind not in KINDS:
            raise ApplicationError(
                f"unknown recommendation kind {input.kind!r}; one of {', '.join(KINDS)}",
                type="UnknownKind",
                non_retryable=True,
            )
        answer = self.serve(input)
        assert answer is not None  # only `require_known` gives None
        return answer

    def serve(self, input: RecommendInput, require_known: bool = False) -> Recommendations | None:
        """One kind's products as cards; None if `require_known` and the store has never seen
        the customer. ValueError for an unknown kind."""
        count = max(1, min(MAX_COUNT, input.count))
        with session_scope(self.database_url) as session:
            customer = store.customer(session, customer_id=input.customer_id)
            if customer is None:
                if require_known:
                    return None
                customer = Customer()
            latest = self._latest(session)
            models = {kind: model for kind, (_, model) in latest.items()}
            seeds = list(dict.fromkeys(input.product_ids))
            if input.kind == related.KIND:
                wanted = seeds or customer.recent(HISTORY_SEEDS)
                found = store.links(session, product_ids=wanted)
                if found:
                    models[related.KIND] = related.fit(found)
            excluded = len(customer.purchased) if input.exclude_purchased else 0
            served = recommend(
                input.kind,
                models,
                customer=customer,
                k=2 * count,  # room for products missing from the catalogue
                seeds=seeds,
                category=input.category,
                exclude_purchased=input.exclude_purchased,
                catalogue=store.catalogue_ids(session, limit=2 * count + excluded + len(seeds)),
            )
            rows = store.products(session, product_ids=[p.product for p in served.picks])
        cards = [
            ProductCard(
                product_id=pick.product,
                name=row.name,
                category=row.category,
                price=row.price,
                extra={"score": round(pick.score, 6), "source": pick.source},
            )
            for pick in served.picks
            if (row := rows.get(pick.product)) is not None
        ][:count]
        own = input.kind != related.KIND and any(c.extra["source"] == input.kind for c in cards)
        return Recommendations(
            kind=input.kind,
            model_version=latest[input.kind][0] if own else None,
            products=cards,
            fallback=served.fallback,
        )

    def _latest(self, session: Session) -> dict[str, tuple[int, Model]]:
        """The cached models, refreshed when the store has newer versions (checked at most
        every `refresh_seconds`). `related` is served from the live links instead."""
        with self._lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= self.refresh_seconds:
                for kind, version in store.latest_versions(session).items():
                    if kind != related.KIND and self._models.get(kind, (0, None))[0] < version:
                        self._models[kind] = store.load_model(session, kind=kind, version=version)
                self._checked_at = now
            return dict(self._models)


def _beat(detail: str) -> None:
    if activity.in_activity():
        activity.heartbeat(detail)

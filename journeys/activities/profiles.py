"""Profile activities: traits, orders and identity merges in the store, idempotent on replay."""

from temporalio import activity

from journeys.store.customers import (
    merge_customers,
    record_order,
    record_stage_entries,
    upsert_traits,
)
from journeys.store.db import session_scope
from journeys.vocabulary.activity_refs import MERGE_PROFILES, RECORD_STAGE_HISTORY, UPDATE_PROFILE
from journeys.vocabulary.customer_types import (
    MergeProfilesInput,
    ProfileUpdateInput,
    StageHistoryInput,
)


class ProfileActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=UPDATE_PROFILE.name)
    def update_profile(self, input: ProfileUpdateInput) -> None:
        with session_scope(self.database_url) as session:
            if input.traits:
                upsert_traits(session, customer_id=input.customer_id, traits=input.traits)
            if input.order is not None:
                order_id = str(input.order.get("order_id") or input.message_id)
                record_order(
                    session,
                    order_id=order_id,
                    customer_id=input.customer_id,
                    properties=input.order,
                    at=input.at,
                )
        activity.logger.debug("profile updated", extra={"customer_id": input.customer_id})

    @activity.defn(name=RECORD_STAGE_HISTORY.name)
    def record_stage_history(self, input: StageHistoryInput) -> None:
        with session_scope(self.database_url) as session:
            record_stage_entries(
                session, customer_id=input.customer_id, entries=input.entries,
                previous=input.previous.value if input.previous else None,
            )  # fmt: skip

    @activity.defn(name=MERGE_PROFILES.name)
    def merge_profiles(self, input: MergeProfilesInput) -> None:
        with session_scope(self.database_url) as session:
            merge_customers(
                session, source_id=input.source_customer_id, target_id=input.target_customer_id
            )
        activity.logger.info(
            "profiles merged",
            extra={"customer_id": input.target_customer_id, "source": input.source_customer_id},
        )

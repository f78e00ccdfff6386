"""Profile activities: traits, orders and identity merges in the store, idempotent on replay."""

import asyncio

from sqlmodel import Session
from temporalio import activity

from journeys.activities.journeys import count_run_changes
from journeys.activities.runs import pass_events, start_runs
from journeys.activities.segments import evaluate_customer
from journeys.store.customers import (
    merge_customers,
    record_order,
    record_stage_entries,
    upsert_traits,
)
from journeys.store.db import session_scope
from journeys.store.journey_runs import record_journey_events
from journeys.store.journeys import paused_journeys
from journeys.vocabulary.activity_refs import (
    APPLY_CUSTOMER_CHANGES,
    MERGE_PROFILES,
    UPDATE_PROFILE,
)
from journeys.vocabulary.customer_types import (
    CustomerChangesInput,
    CustomerChangesResult,
    MergeProfilesInput,
    ProfileUpdateInput,
    StageHistoryInput,
)
from journeys.vocabulary.kpi_types import COMPUTED_TRAITS


def _update_profile(session: Session, update: ProfileUpdateInput) -> None:
    traits = {k: v for k, v in update.traits.items() if k not in COMPUTED_TRAITS}
    if len(traits) < len(update.traits):
        activity.logger.info(
            "computed traits not overwritten",
            extra={"customer_id": update.customer_id,
                   "names": sorted(set(update.traits) - set(traits))},
        )  # fmt: skip
    if traits:
        upsert_traits(session, customer_id=update.customer_id, traits=traits)
    if update.order is not None:
        record_order(
            session,
            order_id=str(update.order.get("order_id") or update.message_id),
            customer_id=update.customer_id,
            properties=update.order,
            at=update.at,
        )


def _record_stages(session: Session, stages: StageHistoryInput) -> None:
    record_stage_entries(
        session, customer_id=stages.customer_id, entries=stages.entries,
        previous=stages.previous.value if stages.previous else None,
    )  # fmt: skip


class ProfileActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn(name=APPLY_CUSTOMER_CHANGES.name)
    async def apply_customer_changes(self, input: CustomerChangesInput) -> CustomerChangesResult:
        """A customer run's work outside after a batch of events, in one (local) activity: the
        store first, in one transaction, so runs started next read the traits just written."""
        result = await asyncio.to_thread(self._store_changes, input)
        result.refused = await start_runs(input.starts)
        result.gone = await pass_events(input.passes, skip=result.refused)
        return result

    def _store_changes(self, input: CustomerChangesInput) -> CustomerChangesResult:
        """The segment evaluation sees the traits and orders written before it."""
        result = CustomerChangesResult()
        with session_scope(self.database_url) as session:
            for update in input.profile:
                _update_profile(session, update)
            if input.stages is not None:
                _record_stages(session, input.stages)
            written = record_journey_events(session, records=input.records)
            if input.starts:  # fresher than the customer's catalog: a held run starts late
                paused = paused_journeys(session)
                for start in input.starts:
                    start.input.paused = start.input.paused or start.input.name in paused
            if (asked := input.segments) is not None:
                session.flush()
                result.segments = evaluate_customer(
                    session, customer_id=asked.customer_id, stage=asked.stage.value, at=asked.at
                )
        count_run_changes(written)
        if result.segments and result.segments.changes:
            activity.logger.info(
                "segments changed",
                extra={"customer_id": input.customer_id, "changes": len(result.segments.changes)},
            )
        return result

    @activity.defn(name=UPDATE_PROFILE.name)
    def update_profile(self, input: ProfileUpdateInput) -> None:
        """A journey's `update_profile` step."""
        with session_scope(self.database_url) as session:
            _update_profile(session, input)
        activity.logger.debug("profile updated", extra={"customer_id": input.customer_id})

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

"""Journey activities: the published catalog, customer traits, run records and queued messages."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from journeys.activities.runs import tell_customer
from journeys.config.metrics import JOURNEY_RUNS
from journeys.store.catalog import catalog_version
from journeys.store.customers import customer_profile, customer_traits
from journeys.store.db import session_scope
from journeys.store.decisions import decision_stats, record_decision
from journeys.store.journey_runs import record_journey_events
from journeys.store.journeys import active_specs, get_version, paused_journeys
from journeys.store.models import Task
from journeys.store.popovers import withdraw_popovers
from journeys.store.segments import active_segment_count
from journeys.store.tasks import create_task, escalate_task, expire_task, get_task
from journeys.vocabulary.activity_refs import (
    CREATE_TASK,
    CUSTOMER_PROFILE,
    CUSTOMER_TRAITS,
    DECISION_STATS,
    JOURNEY_PAUSED,
    LOAD_JOURNEY_CATALOG,
    LOAD_JOURNEY_SPEC,
    RECORD_DECISION,
    RECORD_JOURNEY_EVENTS,
    TASK_DEADLINE,
)
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import (
    ActionStats,
    CustomerProfile,
    DecisionRecord,
    DecisionStatsInput,
    JourneyCatalog,
    JourneyRecordInput,
    JourneyRecordsInput,
    JourneyTrigger,
    LoadSpecInput,
    ProfileInput,
    TaskDeadlineInput,
    TaskInput,
    TaskState,
)


def count_run_changes(written: list[JourneyRecordInput]) -> None:
    """The journey_runs metric: entries and endings newly recorded (steps are not counted)."""
    for record in written:
        if record.kind != "step":
            JOURNEY_RUNS.labels(journey=record.journey, kind=record.kind).inc()


class JourneyActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._catalog: JourneyCatalog | None = None  # the newest read, for its version

    @activity.defn(name=LOAD_JOURNEY_CATALOG.name)
    def load_journey_catalog(self) -> JourneyCatalog:
        """The triggers of the active journeys' newest versions (customers decide entry), and
        their specs (customers hand them to the runs they start)."""
        return self.catalog()

    def catalog(self) -> JourneyCatalog:
        """The store's newest catalog. Every new customer asks (`begin_customer_run` too), so
        it is kept per version (every change of a journey or segment bumps it)."""
        with session_scope(self.database_url) as session:
            version = catalog_version(session)
            kept = self._catalog
            if kept is not None and kept.version == version:
                return kept
            paused = paused_journeys(session)
            active = active_specs(session)
            journeys = [
                JourneyTrigger(
                    name=spec.name, version=number, trigger=spec.trigger, re_entry=spec.re_entry,
                    paused=spec.name in paused, listens=spec.events_awaited(),
                    listen_delays=spec.listen_delays(), listen_limits=spec.listen_limits(),
                )
                for number, spec in active
            ]  # fmt: skip
            segments = active_segment_count(session)
        self._catalog = JourneyCatalog(
            version=version,
            journeys=journeys,
            segments=segments,
            specs={spec.name: spec for _, spec in active},
        )
        return self._catalog

    @activity.defn(name=LOAD_JOURNEY_SPEC.name)
    def load_journey_spec(self, input: LoadSpecInput) -> JourneySpec:
        """A published version never changes, so the run's history pins it for replay."""
        with session_scope(self.database_url) as session:
            spec = get_version(session, name=input.name, version=input.version)
        if spec is None:
            raise LookupError(f"journey {input.name} v{input.version} is not published")
        return spec

    @activity.defn(name=JOURNEY_PAUSED.name)
    def journey_paused(self, input: LoadSpecInput) -> bool:
        with session_scope(self.database_url) as session:
            return input.name in paused_journeys(session)

    @activity.defn(name=CUSTOMER_TRAITS.name)
    def customer_traits(self, input: ProfileInput) -> dict[str, Any]:
        with session_scope(self.database_url) as session:
            return customer_traits(session, customer_id=input.customer_id) or {}

    @activity.defn(name=CUSTOMER_PROFILE.name)
    def customer_profile(self, input: ProfileInput) -> CustomerProfile:
        with session_scope(self.database_url) as session:
            return customer_profile(session, customer_id=input.customer_id)

    @activity.defn(name=DECISION_STATS.name)
    def decision_stats(self, input: DecisionStatsInput) -> dict[str, ActionStats]:
        with session_scope(self.database_url) as session:
            return decision_stats(session, journey=input.journey, step=input.step)

    @activity.defn(name=RECORD_DECISION.name)
    def record_decision(self, input: DecisionRecord) -> None:
        with session_scope(self.database_url) as session:
            record_decision(session, record=input)
        activity.logger.info(
            "decision", extra={"customer_id": input.customer_id, "journey": input.journey,
                               "step": input.step, "chosen": input.chosen},
        )  # fmt: skip

    @activity.defn(name=RECORD_JOURNEY_EVENTS.name)
    async def record_journey_events(self, input: JourneyRecordsInput) -> None:
        """Write a run's records; with `ended`, then tell its customer (once they are in)."""
        if input.records:
            await asyncio.to_thread(self._write_records, input)
        if input.ended is not None and input.customer_id is not None:
            await tell_customer(input.customer_id, input.ended)

    def _write_records(self, input: JourneyRecordsInput) -> None:
        with session_scope(self.database_url) as session:
            written = record_journey_events(session, records=input.records)
            if input.ended is not None and input.cut_short:
                withdraw_popovers(
                    session, workflow_id=input.ended.workflow_id, outcome=input.ended.outcome
                )
        count_run_changes(written)

    @activity.defn(name=CREATE_TASK.name)
    def create_task(self, input: TaskInput) -> None:
        with session_scope(self.database_url) as session:
            create_task(
                session,
                task=Task(**input.model_dump(), status="open", created_at=datetime.now(UTC)),
            )

    @activity.defn(name=TASK_DEADLINE.name)
    def task_deadline(self, input: TaskDeadlineInput) -> TaskState:
        """Escalate or expire an open task; returns its state, completed or not."""
        with session_scope(self.database_url) as session:
            if input.escalate_to:
                escalate_task(session, task_id=input.task_id, team=input.escalate_to)
            else:
                expire_task(session, task_id=input.task_id)
            task = get_task(session, task_id=input.task_id)
            return TaskState(status=task.status, outcome=task.outcome)

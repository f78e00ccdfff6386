"""CustomerWorkflow: one durable workflow per customer (`customer-{id}`), for the customer's life.

Signal handlers only queue; the run loop applies events in order, calls activities for profile
changes, keeps search attributes current, watches inactivity with one durable timer, and
continues-as-new before the history grows large, carrying state, the dedup window and every
event not yet applied.
"""

import asyncio
import hashlib
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary import search_attributes as sa
    from journeys.vocabulary.activity_refs import (
        APPLY_CUSTOMER_CHANGES,
        BEGIN_CUSTOMER_RUN,
        MERGE_PROFILES,
    )
    from journeys.vocabulary.customer_types import (
        EVENT_NAMES_KEPT,
        EVENTS_SIGNAL,
        MERGES_KEPT,
        OTHER_EVENTS,
        STAGE_HISTORY_KEPT,
        STATE_QUERY,
        CustomerChangesInput,
        CustomerInput,
        CustomerRunInput,
        CustomerState,
        LifecycleConfig,
        MergeInput,
        MergeIntoInput,
        MergeProfilesInput,
        ProfileUpdateInput,
        SegmentsQuiet,
        StageChange,
        StageHistoryInput,
    )
    from journeys.vocabulary.events import PASSIVE_EVENTS, CustomerEvent, EventBatch, Stage
    from journeys.vocabulary.ids import customer_workflow_id
    from journeys.vocabulary.journey_types import (
        JOURNEY_ENDED_SIGNAL,
        JourneyEnded,
        JourneyExit,
        JourneyRecordInput,
        RunStart,
    )
    from journeys.vocabulary.lifecycle import merge_states, next_stage
    from journeys.vocabulary.patches import PATHS
    from journeys.vocabulary.segment_types import (
        SEGMENT_ENTERED,
        SEGMENT_EXITED,
        SegmentEvaluationInput,
    )
    from journeys.workflows.customer_journeys import JourneyRouter
    from journeys.workflows.history import history_is_long

CARRIED_EVENTS = 500  # at most this many unapplied events travel in a continue-as-new input


def dedup_key(message_id: str) -> str:
    """What the dedup window keeps of a messageId: 16 hex digits of its hash, whatever the
    client made it (up to 255 characters), so the window carried in the state stays ~40 KB."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:16]


RECENT_IDS = 2000  # size of the messageId dedup window carried across continue-as-new
MERGED_LINGER = timedelta(days=1)  # a merged customer forwards stragglers this long, then ends
ACTIVITY_TIMEOUT = timedelta(seconds=30)
AT_RISK_EVENT = "Customer At Risk"
# a run started since this patch does its store work in regular activities (docs/versioning.md)
NO_LOCAL_ACTIVITIES = "no_local_activities"
# runs adopted in a merge are passed the events applied while the merge was on its way
MERGE_CATCHES_UP_RUNS = "merge_catches_up_runs"
CATCH_UP_EVENTS = 100  # at most this many events kept per merge on its way


@workflow.defn
class CustomerWorkflow:
    @workflow.init
    def __init__(self, input: CustomerInput) -> None:
        self.state = input.state or CustomerState(customer_id=input.customer_id)
        self.paths = input.paths  # >= 1: the patches below are taken without asking
        self.pending: deque[CustomerEvent] = deque()
        self.merges: deque[MergeInput] = deque()
        self.merge_requests: deque[MergeIntoInput] = deque()
        self.recent: deque[str] = deque(self.state.recent_message_ids, maxlen=RECENT_IDS)
        self.seen = set(self.recent)
        self.config: LifecycleConfig | None = None
        self.router = JourneyRouter(self.state.customer_id, self.state.journeys)
        self.at_risk_news = False  # the inactivity timer fired; journeys may trigger on it
        self.held_due = False  # a held run's first wait is over: the next drain starts it
        self.applied_here = 0  # events this run applied (a hand-over waits for the first)
        self.exits: deque[JourneyExit] = deque()  # operators' `exit_journey`, for the drain
        self.segments_due = False  # events were applied since the last segment evaluation
        # traits and orders applied but not yet in the store: written with the stage entries
        # and the segment evaluation in one activity (store_changes)
        self.profile_changes: list[ProfileUpdateInput] = []
        # stage, journeys or risk changed: search attributes are upserted once, as the loop's
        # work ends (one history event, not one per change)
        self.attributes_due = False
        self.local_activities = False  # decided as the run starts
        # per customer asked to merge into this one: the events applied since, for the runs
        # the merge will bring (not carried over a continue-as-new)
        self.merging: dict[str, list[CustomerEvent]] = {}
        self._carry_over(input.pending)

    # -- handlers: signals queue, the query reads ------------------------------------------

    @workflow.signal(name=EVENTS_SIGNAL)
    def events(self, batch: EventBatch) -> None:
        self.router.wanted_catalog = max(self.router.wanted_catalog, batch.catalog_version)
        self._queue(batch.events)

    @workflow.signal(name=JOURNEY_ENDED_SIGNAL)
    def journey_ended(self, end: JourneyEnded) -> None:
        self.router.ended(end)
        self.attributes_due = True

    @workflow.signal(name="exit_journey")
    def exit_journey(self, command: JourneyExit) -> None:
        self.exits.append(command)

    @workflow.signal(name="merge_into")
    def merge_into(self, request: MergeIntoInput) -> None:
        self.merge_requests.append(request)

    @workflow.signal(name="merge")
    def merge(self, merge: MergeInput) -> None:
        self.merges.append(merge)

    @workflow.signal(name="upgrade")
    def upgrade(self) -> None:
        """A nudge for a quiet customer (`temporal workflow signal --query`): the task it
        starts tells the run whether a newer build is current, and the run moves to it."""

    @workflow.query(name=STATE_QUERY)
    def get_state(self) -> CustomerState:
        return self.state.model_copy(update={"recent_message_ids": []})

    def _carry_over(self, events: list[CustomerEvent]) -> None:
        """The previous run's unapplied events: its dedup window (carried in the state)
        already holds their ids, so they are queued as they are, not checked against it."""
        for event in events:
            if dedup_key(event.message_id) not in self.seen:
                self._remember(dedup_key(event.message_id))  # the window had moved on past it
            self.pending.append(event)

    def _queue(self, events: list[CustomerEvent]) -> None:
        for event in events:
            key = dedup_key(event.message_id)
            if key in self.seen:
                continue  # duplicate messageId: already applied or queued
            self._remember(key)
            self.pending.append(event)

    def _remember(self, key: str) -> None:
        """Into the dedup window of the latest RECENT_IDS messageIds (by `dedup_key`)."""
        if len(self.recent) == self.recent.maxlen:
            self.seen.discard(self.recent[0])
        self.recent.append(key)
        self.seen.add(key)

    # -- the run loop ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CustomerInput) -> CustomerState:
        # decided before any activity: a run started before the patch keeps local activities
        local = self.paths < 1 and not workflow.patched(NO_LOCAL_ACTIVITIES)
        # a regular activity, not a local one: a local activity's result can land in a later
        # task than its marker, and replay then fails (docs/versioning.md, "a real case")
        setup = await BEGIN_CUSTOMER_RUN.run(
            CustomerRunInput(
                customer_id=self.state.customer_id,
                lineage=workflow.info().first_execution_run_id,
                epoch=self.state.epoch,
                catalog_version=self.state.journeys.catalog_version,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        if setup.catalog is not None:  # as recorded: none from a worker before it, or not newer
            self.router.take_catalog(setup.catalog)
        self.config = setup.config
        self.local_activities = self.router.local_activities = local or setup.local_activities
        self.state.epoch = self.router.epoch = setup.epoch
        self.router.delivery = self.config.delivery
        self.attributes_due = True  # upserted as the first drain ends, with what it changed
        watcher = asyncio.create_task(self._watch_inactivity())
        holder = asyncio.create_task(self._watch_held_runs())
        while True:
            if self.state.merged_into:
                try:
                    await workflow.wait_condition(self._has_work, timeout=MERGED_LINGER)
                except TimeoutError:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not self._has_work():
                        watcher.cancel()
                        holder.cancel()
                        return self.state
            else:
                await workflow.wait_condition(lambda: self._has_work() or _new_build_is_current())
            await self._drain(input)
            if history_is_long(input.continue_as_new_after) or _new_build_is_current():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._has_work(besides_events=True):
                    continue  # merges, exits, releases: few, applied before handing over
                # events keep coming under load: those not applied yet travel in the input
                carried, self.pending = list(self.pending), deque()
                self.state.recent_message_ids = list(self.recent)
                self.state.generation += 1
                workflow.logger.info(
                    "customer continues as new",
                    extra={"customer_id": self.state.customer_id, "carried": len(carried)},
                )
                watcher.cancel()
                holder.cancel()
                workflow.continue_as_new(
                    CustomerInput(
                        customer_id=self.state.customer_id,
                        state=self.state,
                        pending=carried,
                        continue_as_new_after=input.continue_as_new_after,
                        paths=PATHS,  # a new history, on this build or a newer one
                    ),
                    initial_versioning_behavior=_upgrade_at_continue_as_new(),
                )

    def _superseded(self, event: CustomerEvent) -> bool:
        """A segment entry or exit older than the last one applied for its segment."""
        if event.key not in (SEGMENT_ENTERED, SEGMENT_EXITED):
            return False
        last = self.state.segment_changed_at.get(str(event.properties.get("segment")))
        return last is not None and event.timestamp < last

    def _has_work(self, besides_events: bool = False) -> bool:
        """Anything queued for the drain; with `besides_events`, anything but new events (the
        search attributes included: a new run upserts them anyway)."""
        if besides_events:
            return bool(
                self.merges or self.merge_requests or self.at_risk_news or self.held_due
                or self.exits
            )  # fmt: skip
        return bool(
            self.pending
            or self.merges
            or self.merge_requests
            or self.at_risk_news
            or self.held_due
            or self.exits
            or self.attributes_due
        )

    async def _drain(self, input: CustomerInput) -> None:
        """Apply what is queued. Under a flood new events arrive while the store activity
        runs, so the queue may never empty: the drain stops once the history is long (and at
        most CARRIED_EVENTS wait), and the loop hands the rest over."""
        await self.router.refresh_catalog()
        if self.at_risk_news:
            self.at_risk_news = False
            await self._announce_at_risk()
        while self.exits:
            if await self.router.exit(self.exits.popleft()):
                self.attributes_due = True
        if self.held_due:
            self.held_due = False
            if not self.state.merged_into and self.router.release_due():  # else adopted
                self.attributes_due = True  # HeldJourneys
        while self.pending or self.merges or self.merge_requests:
            if (
                not (self.merges or self.merge_requests)
                and len(self.pending) <= CARRIED_EVENTS
                and self.applied_here > 0  # each run gets somewhere, however low the threshold
                and history_is_long(input.continue_as_new_after)
            ):
                break
            if self.merge_requests:
                await self._hand_over(self.merge_requests.popleft())
            elif self.merges:
                await self._absorb(self.merges.popleft())
            elif self.state.merged_into:
                await self._forward()
            else:
                event = self.pending.popleft()
                if self._superseded(event):
                    continue
                await self._apply(event)
                self.applied_here += 1
            if not self.pending and self.segments_due:
                await self._store_changes(evaluate=True)  # may queue segment events
        await self._store_changes()
        self._upsert_search_attributes()
        self._show_details()

    async def _apply(self, event: CustomerEvent) -> None:
        state = self.state
        now = workflow.now()
        if state.first_seen_at is None:
            state.first_seen_at = now
            self._enter(StageChange(stage=state.stage, at=event.timestamp, cause="first_seen"))
        passive = event.key in PASSIVE_EVENTS  # new names: no recorded history has them
        if not passive:  # in event time: an import of old events makes no one look active now
            seen = min(event.timestamp, now)
            if state.last_event_at is None or seen > state.last_event_at:
                state.last_event_at = seen
        state.events_total += 1
        counted = event.key not in (SEGMENT_ENTERED, SEGMENT_EXITED)  # by segment rules
        if not counted and (segment := event.properties.get("segment")):
            state.segment_changed_at[str(segment)] = event.timestamp
        assert self.config is not None
        self._count(event.key)
        previous = state.stage
        stage = next_stage(self.config.rules, state, event)
        if stage is not None:
            self._move(stage, event.timestamp, event.key)
        if self.router.involved and self.router.on_event(event, state.stage, previous):
            self.attributes_due = True
        recent = state.last_event_at is not None and now - state.last_event_at < self._quiet()
        if state.at_risk and not passive and recent:  # back, unless the event is an old one
            state.at_risk = False
            self.attributes_due = True
        if event.type == "identify" and event.traits:
            self._update_profile(event, order=None)
        elif event.key == "Order Completed":
            self._update_profile(event, order=event.properties)
        elif counted and stage is None and self._segments_quiet():
            counted = False  # the last evaluation said such an event changes no membership
        if counted:
            self.segments_due = True
        source = event.merge_from
        if source and source != state.customer_id and source not in state.merge_requested:
            # web clients repeat anonymousId on every call: ask once (the latest few kept)
            state.merge_requested = [*state.merge_requested, source][-MERGES_KEPT:]
            if await self._request_merge(source):  # the latest few, like the requests
                self.merging = {**dict(list(self.merging.items())[1 - MERGES_KEPT :]), source: []}
        for events in self.merging.values():  # the identify that asked included
            if len(events) < CATCH_UP_EVENTS:
                events.append(event)

    def _segments_quiet(self) -> bool:
        """Whether the last segment evaluation said an event that brings no traits, order or
        stage change cannot change a membership now (segments.evaluate.quiet_after); if so,
        the event uses up one of the quiet's events."""
        quiet = self.state.segments_quiet
        if (
            quiet is None
            or quiet.events < 1
            or quiet.catalog_version != self.state.journeys.catalog_version
            or (quiet.until is not None and workflow.now() >= quiet.until)
        ):
            return False
        quiet.events -= 1
        return True

    async def _store_changes(self, evaluate: bool = False) -> None:
        """Do, in one activity, what the drain decided outside: tell the store what it
        has not seen — traits and orders, stage entries (the funnel reads them) and, with
        `evaluate` where segments exist, which segments the customer is in now (entries and
        exits become events) — then start the journey runs decided (they read those traits)
        and pass runs in flight their events."""
        if evaluate:
            self.segments_due = False
        history, done = self.state.stage_history, self.state.stages_recorded
        stages = None
        if done < len(history):
            stages = StageHistoryInput(
                customer_id=self.state.customer_id,
                entries=history[done:],
                previous=history[done - 1].stage if done else None,
            )
        segments = None
        if evaluate and self.state.journeys.segments_defined:
            segments = SegmentEvaluationInput(
                customer_id=self.state.customer_id, stage=self.state.stage, at=workflow.now()
            )
        if not (self.profile_changes or stages or segments or self.router.has_orders):
            return
        profile, self.profile_changes = self.profile_changes, []
        starts, passes, records = self.router.take_orders()
        result = await APPLY_CUSTOMER_CHANGES.run_store(
            CustomerChangesInput(
                customer_id=self.state.customer_id,
                profile=profile,
                stages=stages,
                segments=segments,
                starts=starts,
                passes=passes,
                records=records,
            ),
            local=self.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=_changes_summary(profile, stages, segments, starts, records),
        )
        excess = len(history) - STAGE_HISTORY_KEPT  # the store has them all: keep the latest
        if excess > 0:
            del history[:excess]
        self.state.stages_recorded = len(history)
        if self.router.settle(result.refused, result.gone):
            self.attributes_due = True
        if result.segments is not None:
            self.state.segments = result.segments.segments
            self.state.segments_quiet = SegmentsQuiet(
                events=result.segments.quiet_events,
                until=result.segments.quiet_until,
                catalog_version=self.state.journeys.catalog_version,
            )
            self._queue(
                [change.event(self.state.customer_id) for change in result.segments.changes]
            )

    def _enter(self, change: StageChange) -> None:
        entries = self.state.stage_entries
        entries[change.stage] = entries.get(change.stage, 0) + 1
        self.state.stage_history.append(change)  # trimmed once the store has it

    def _count(self, key: str) -> None:
        """Count the event by name; past EVENT_NAMES_KEPT names (clients choose them) a new
        name counts as OTHER_EVENTS, unless a lifecycle rule counts it."""
        counts = self.state.event_counts
        if key not in counts and len(counts) >= EVENT_NAMES_KEPT:
            assert self.config is not None
            if all(rule.event != key for rule in self.config.rules):
                key = OTHER_EVENTS
        counts[key] = counts.get(key, 0) + 1

    def _move(self, stage: Stage, at: datetime, cause: str) -> None:
        previous = self.state.stage
        self.state.stage = stage
        self._enter(StageChange(stage=stage, at=at, cause=cause))
        self.attributes_due = True
        workflow.logger.debug(
            "stage changed",
            extra={
                "customer_id": self.state.customer_id,
                "from": previous,
                "to": stage,
                "cause": cause,
            },
        )

    def _update_profile(self, event: CustomerEvent, order: dict[str, Any] | None) -> None:
        self.profile_changes.append(
            ProfileUpdateInput(
                customer_id=self.state.customer_id,
                message_id=event.message_id,
                at=event.timestamp,
                traits=event.traits,
                order=order,
            )
        )

    # -- identity resolution: alias merges the previous customer into this one --------------

    async def _request_merge(self, source_customer_id: str) -> bool:
        """Ask the other customer to hand itself over; False if there is no such customer."""
        handle = workflow.get_external_workflow_handle(customer_workflow_id(source_customer_id))
        try:
            await handle.signal(
                CustomerWorkflow.merge_into,
                MergeIntoInput(target_customer_id=self.state.customer_id),
            )
        except ApplicationError as err:  # no such customer: nothing to merge
            workflow.logger.info(
                "nothing to merge",
                extra={"customer_id": self.state.customer_id, "reason": str(err)},
            )
            return False
        return True

    async def _hand_over(self, request: MergeIntoInput) -> None:
        target = request.target_customer_id
        if self.state.merged_into or target == self.state.customer_id:
            return
        await self._store_changes()  # this profile's own changes go in before it is merged
        self.state.recent_message_ids = list(self.recent)
        pending = list(self.pending)
        try:
            await workflow.get_external_workflow_handle(customer_workflow_id(target)).signal(
                CustomerWorkflow.merge,
                MergeInput(
                    source_customer_id=self.state.customer_id, state=self.state, pending=pending
                ),
            )
        except ApplicationError as err:  # the target is gone: stay a customer of our own
            workflow.logger.warning(
                "merge refused", extra={"customer_id": self.state.customer_id, "error": str(err)}
            )
            return
        self.pending = deque()
        self.state.merged_into = target
        self.attributes_due = True
        workflow.logger.info(
            "customer merged", extra={"customer_id": self.state.customer_id, "into": target}
        )

    async def _absorb(self, merge: MergeInput) -> None:
        # the source's unapplied events are among its recent ids: pick them before those join
        fresh = [e for e in merge.pending if dedup_key(e.message_id) not in self.seen]
        self.state = merge_states(self.state, merge.state)
        self.state.segments_quiet = None  # the source's events count too now: ask again
        self.router.journeys = self.state.journeys
        ours = set(self.router.journeys.active)
        adopted = self.router.adopt(merge.state.journeys)
        arrived = [name for name in self.router.journeys.active if name not in ours]
        applied = self.merging.pop(merge.source_customer_id, [])
        if (
            self.router.listening(arrived, applied)
            and (self.paths >= 1 or workflow.patched(MERGE_CATCHES_UP_RUNS))
            and self.router.catch_up(arrived, applied)
        ):
            self.attributes_due = True
        for key in merge.state.recent_message_ids:
            if key not in self.seen:
                self._remember(key)
        self.state.recent_message_ids = []
        self.pending.extend(fresh)
        await self.router.reassign(adopted)
        self.attributes_due = True
        await MERGE_PROFILES.run(
            MergeProfilesInput(
                source_customer_id=merge.source_customer_id,
                target_customer_id=self.state.customer_id,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    async def _forward(self) -> None:
        """A merged customer passes stragglers (events sent before routing changed) on."""
        assert self.state.merged_into is not None
        batch, self.pending = list(self.pending), deque()
        try:
            await workflow.get_external_workflow_handle(
                customer_workflow_id(self.state.merged_into)
            ).signal(CustomerWorkflow.events, EventBatch(events=batch))
        except ApplicationError as err:  # the target ended too (merged on): nowhere to go
            workflow.logger.warning(
                "stragglers dropped",
                extra={
                    "customer_id": self.state.customer_id,
                    "events": len(batch),
                    "error": str(err),
                },
            )

    async def _announce_at_risk(self) -> None:
        """Journeys see a lapse as the built-in event `Customer At Risk` (not counted, not
        stored: nothing the customer did)."""
        if not self.router.involved:
            return
        event = CustomerEvent(
            message_id=f"at-risk:{self.state.generation}:{self.state.events_total}",
            type="track",
            event=AT_RISK_EVENT,
            timestamp=workflow.now(),
        )
        if self.router.on_event(event, self.state.stage, self.state.stage):
            self.attributes_due = True

    # -- inactivity, search attributes, UI details ------------------------------------------

    def _quiet(self) -> timedelta:
        """How long without an event makes a customer at risk."""
        assert self.config is not None
        return timedelta(days=self.config.inactivity_days)

    async def _watch_inactivity(self) -> None:
        """One durable timer per quiet period, not one per event: it re-arms only when it fires."""
        quiet = self._quiet()
        while True:
            last = self.state.last_event_at
            if self.state.at_risk or last is None or self.state.merged_into:
                await workflow.wait_condition(
                    lambda: (
                        not self.state.at_risk
                        and self.state.last_event_at is not None
                        and not self.state.merged_into
                    )
                )
                continue
            now = workflow.now()
            if now < last + quiet:
                await workflow.sleep(last + quiet - now)
                continue
            self.state.at_risk = True
            self.at_risk_news = True
            self.attributes_due = True
            self._show_details()
            workflow.logger.info("customer at risk", extra={"customer_id": self.state.customer_id})

    async def _watch_held_runs(self) -> None:
        """One durable timer, for the earliest held run's start; re-armed when that changes."""
        while True:
            until = self.router.next_release()
            if until is None or self.state.merged_into:
                await workflow.wait_condition(
                    lambda: self.router.next_release() is not None and not self.state.merged_into
                )
                continue
            now = workflow.now()
            if now < until:

                def moved(at: datetime = until) -> bool:  # an earlier hold, or this one ended
                    return self.router.next_release() != at

                try:
                    await workflow.wait_condition(moved, timeout=until - now)
                except TimeoutError:
                    pass
                continue
            self.held_due = True
            await workflow.wait_condition(lambda: not self.held_due)

    def _upsert_search_attributes(self) -> None:
        """Keep CustomerId/LifecycleStage/AtRisk current; a merged customer drops its stage so
        `LifecycleStage="..."` counts each person once."""
        self.attributes_due = False
        current = workflow.info().typed_search_attributes
        wanted: list[SearchAttributeUpdate[Any]] = [
            sa.CUSTOMER_ID.value_set(self.state.customer_id)
        ]
        if self.state.merged_into:
            wanted += [sa.LIFECYCLE_STAGE.value_unset(), sa.AT_RISK.value_unset()]
        else:
            wanted += [
                sa.LIFECYCLE_STAGE.value_set(self.state.stage.value),
                sa.AT_RISK.value_set(self.state.at_risk),
            ]
            if self.router.involved:
                active = sorted(self.state.journeys.active)
                wanted.append(sa.ACTIVE_JOURNEYS.value_set(active))
                if held := sorted(self.state.journeys.held):
                    wanted.append(sa.HELD_JOURNEYS.value_set(held))
                elif current.get(sa.HELD_JOURNEYS) is not None:
                    wanted.append(sa.HELD_JOURNEYS.value_unset())
        changed = [u for u in wanted if current.get(u.key) != u.value]
        if changed:
            workflow.upsert_search_attributes(changed)

    def _show_details(self) -> None:
        s = self.state
        workflow.set_current_details(
            f"**{s.stage.value}**{' (at risk)' if s.at_risk else ''} · {s.events_total} events"
            + (f" · merged into {s.merged_into}" if s.merged_into else "")
        )


def _upgrade_at_continue_as_new() -> workflow.ContinueAsNewVersioningBehavior | None:
    """On a versioned worker the next run starts on the Current Version (for its first task;
    then it is PINNED again): how a customer moves to a new build without patches. Unversioned
    workers must not ask (the server refuses the continue-as-new)."""
    version = workflow.info().get_current_deployment_version()
    if version is None or not version.deployment_name:
        return None
    return workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE


def _new_build_is_current() -> bool:
    """Worker Versioning: a newer build than this run's became Current (or Ramping)."""
    return workflow.info().is_target_worker_deployment_version_changed()


def _changes_summary(
    profile: list[ProfileUpdateInput],
    stages: StageHistoryInput | None,
    segments: SegmentEvaluationInput | None,
    starts: list[RunStart],
    records: list[JourneyRecordInput],
) -> str:
    """What the Temporal UI shows on the activity (no personal data)."""
    parts = [f"{len(profile)} profile change{'s' * (len(profile) != 1)}"] if profile else []
    if stages:
        parts.append("stages: " + ", ".join(e.stage for e in stages.entries))
    if segments:
        parts.append(f"segments at stage {segments.stage}")
    if starts:
        parts.append("start " + ", ".join(s.input.name for s in starts))
    if records:
        parts.append("held runs: " + ", ".join(f"{r.journey} {r.kind}" for r in records))
    return "; ".join(parts)

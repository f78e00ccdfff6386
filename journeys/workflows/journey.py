"""JourneyWorkflow: one customer's run through one version of one journey spec.

The spec is data; this class interprets it. Events the customer sends after entry arrive as
signals and are kept: the goal and the exits are checked against every one of them the moment
it arrives (a signal interrupts any wait), and `wait_for_event` also finds an event that
arrived earlier, while the run was still in a delay. When the awaited event and the timeout
fall in the same workflow task, the event wins.
"""

import hashlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary import search_attributes as sa
    from journeys.vocabulary.activity_refs import (
        CREATE_TASK,
        CUSTOMER_PROFILE,
        CUSTOMER_TRAITS,
        DECISION_STATS,
        JOURNEY_PAUSED,
        LOAD_JOURNEY_SPEC,
        RECORD_DECISION,
        RECORD_JOURNEY_EVENT,
        TASK_DEADLINE,
        UPDATE_PROFILE,
    )
    from journeys.vocabulary.customer_types import ProfileUpdateInput
    from journeys.vocabulary.events import CustomerEvent, EventBatch
    from journeys.vocabulary.expressions import evaluate
    from journeys.vocabulary.ids import customer_workflow_id
    from journeys.vocabulary.journey_spec import (
        Action,
        Branch,
        Decide,
        EventMatch,
        Exit,
        Experiment,
        HumanTask,
        JourneySpec,
        Recommend,
        Send,
        UpdateProfile,
        Wait,
        WaitForEvent,
        WaitUntil,
    )
    from journeys.vocabulary.journey_types import (
        ActionStats,
        DecisionRecord,
        DecisionStatsInput,
        DeliveryPolicy,
        JourneyEnded,
        JourneyInput,
        JourneyProgress,
        JourneyRecordInput,
        LoadSpecInput,
        OperatorCommand,
        Outcome,
        ProfileInput,
        Reassign,
        RecordKind,
        StepRecord,
        TaskDeadlineInput,
        TaskInput,
        TaskOutcome,
    )
    from journeys.vocabulary.local_time import until_local, zone_or
    from journeys.workflows.journey_sends import ACTIVITY_TIMEOUT, SendSteps

# JourneyStep search attribute ("who is at which step?"): runs recorded before it replay without
# the upserts. Retire with deprecate_patch once no such run is open (journeys end within weeks).
STEP_ATTRIBUTE_PATCH = "journey-step-attribute"
PAUSE_CHECK = timedelta(minutes=10)  # a journey-wide pause: how often the run asks the store
# Branch conditions see the customer's segments (`"vip" in segments`).
SEGMENTS_IN_CONDITIONS_PATCH = "segments-in-conditions"


def assign_variant(key: str, weights: list[float]) -> int:
    """Deterministic weighted assignment: the same customer always gets the same variant."""
    point = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    total, edge = sum(weights), 0.0
    for index, weight in enumerate(weights):
        edge += weight / total
        if point < edge:
            return index
    return len(weights) - 1


@workflow.defn
class JourneyWorkflow(SendSteps):
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self.input = input
        self.spec: JourneySpec | None = input.spec
        self.entered_at = workflow.now()
        self.events: list[CustomerEvent] = []  # received since entry, in order
        self.used: set[int] = set()  # indexes of events a wait_for_event already matched
        self.last_event = input.trigger_event
        self.outcome: Outcome | None = None
        self.progress = JourneyProgress(
            name=input.name, version=input.version, customer_id=input.customer_id, current_step=None
        )
        self.visits: dict[str, int] = {}
        self.records = 0
        self.policy: DeliveryPolicy | None = None  # asked once per run, at the first send
        self.task_outcomes: dict[str, str] = {}  # task id -> outcome, from `task_completed`
        self.products: dict[str, list[dict[str, Any]]] = {}  # recommend steps' `save_as`
        self.paused: OperatorCommand | None = None
        self.exit_reason = ""
        if input.paused:  # entered while the whole journey was paused
            self.pause(OperatorCommand(reason="journey paused", journey_wide=True))

    @workflow.signal(name="events")
    def receive(self, batch: EventBatch) -> None:
        for event in batch.events:
            self.events.append(event)
            if self.outcome is None and self.spec is not None:
                self._check_goal_and_exits(event)

    @workflow.signal(name="reassign")
    def reassign(self, change: Reassign) -> None:
        self.input.customer_id = change.customer_id
        self.progress.customer_id = change.customer_id

    @workflow.signal(name="task_completed")
    def task_completed(self, answer: TaskOutcome) -> None:
        self.task_outcomes[answer.task_id] = answer.outcome

    @workflow.signal(name="pause")
    def pause(self, command: OperatorCommand) -> None:
        self.paused = command
        self.progress.paused = command.reason or "paused by an operator"

    @workflow.signal(name="resume")
    def resume(self, command: OperatorCommand) -> None:
        self.paused = None
        self.progress.paused = None

    @workflow.signal(name="exit")
    def operator_exit(self, command: OperatorCommand) -> None:
        if self.outcome is None:  # interrupts any wait, like an exit rule
            self.outcome = "exited"
            self.exit_reason = f"exited by an operator: {command.reason or 'no reason given'}"

    @workflow.query(name="progress")
    def get_progress(self) -> JourneyProgress:
        return self.progress

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyProgress:
        if self.spec is None:
            self.spec = await LOAD_JOURNEY_SPEC.run(
                LoadSpecInput(name=input.name, version=input.version),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            for event in self.events:  # events that arrived before the spec was known
                if self.outcome is None:
                    self._check_goal_and_exits(event)
        workflow.upsert_search_attributes(
            [
                sa.CUSTOMER_ID.value_set(input.customer_id),
                sa.JOURNEY_NAME.value_set(input.name),
                sa.JOURNEY_VERSION.value_set(input.version),
            ]
        )
        await self._record("entered", detail=f"v{input.version}")
        step_id: str | None = self.spec.steps[0].id
        while step_id is not None and self.outcome is None:
            self.progress.current_step = step_id
            workflow.set_current_details(f"{input.name} v{input.version}: step **{step_id}**")
            if workflow.patched(STEP_ATTRIBUTE_PATCH):  # runs recorded before it: no upsert
                workflow.upsert_search_attributes([sa.JOURNEY_STEP.value_set(step_id)])
            if self.paused is not None:  # never true in runs recorded before pausing existed
                await self._wait_while_paused()
                if self.outcome is not None:
                    break
            step_id = await self._execute(step_id)
        if self.outcome is None:
            self.outcome = "completed"
        await self._finish()
        return self.progress

    # -- steps -------------------------------------------------------------------------------

    async def _execute(self, step_id: str) -> str | None:
        assert self.spec is not None
        step = self.spec.step(step_id)
        self.visits[step_id] = self.visits.get(step_id, 0) + 1
        after = self.spec.after(step_id)
        result, target = "", after
        if isinstance(step, Wait):
            await self._sleep(step.duration)
        elif isinstance(step, WaitUntil):
            await self._sleep(await self._until(step))
        elif isinstance(step, WaitForEvent):
            found = await self._wait_for(step)
            result = "event" if found else "timeout"
            target = (step.on_event if found else step.on_timeout) or after
        elif isinstance(step, Branch):
            context = await self._context()
            index = next(
                (i for i, case in enumerate(step.cases) if evaluate(case.when, context)), None
            )
            result = f"case {index + 1}" if index is not None else "otherwise"
            target = step.cases[index].goto if index is not None else (step.otherwise or after)
        elif isinstance(step, Experiment):
            key = f"{self.spec.name}:{step.id}:{self.input.customer_id}"
            variant = step.variants[assign_variant(key, [v.weight for v in step.variants])]
            self.progress.assignments[step.id] = variant.name
            result, target = f"variant {variant.name}", variant.goto
        elif isinstance(step, Send):
            result = await self._send(step)
        elif isinstance(step, Recommend):
            result = await self._recommend(step)
        elif isinstance(step, Decide):
            chosen = await self._decide(step)
            result = f"action {chosen.name}" if chosen else "no eligible action"
            target = chosen.goto if chosen else (step.otherwise or after)
        elif isinstance(step, HumanTask):
            answer = await self._human_task(step)
            result = f"outcome {answer}" if answer else "deadline"
            target = step.outcomes[answer] if answer else (step.on_deadline or after)
        elif isinstance(step, UpdateProfile):
            await UPDATE_PROFILE.run(
                ProfileUpdateInput(
                    customer_id=self.input.customer_id,
                    message_id=f"{workflow.info().workflow_id}:{step.id}",
                    at=workflow.now(),
                    traits=step.traits,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        elif isinstance(step, Exit):
            self.outcome = "exited"
            result, target = step.reason, None
        else:  # publishing refuses kinds this worker cannot run yet; never skip one silently
            raise ApplicationError(f"step kind {step.kind!r} is not supported", non_retryable=True)
        if self.outcome is not None and not isinstance(step, Exit):
            result = f"interrupted: {self.outcome}"  # a goal or an exit cut the step short
        self.progress.steps.append(
            StepRecord(step=step.id, kind=step.kind, at=workflow.now(), result=result)
        )
        await self._record("step", step=step.id, detail=result)
        return target

    async def _sleep(self, duration: timedelta) -> None:
        """A durable timer that a goal or an exit interrupts."""
        try:
            await workflow.wait_condition(lambda: self.outcome is not None, timeout=duration)
        except TimeoutError:
            pass

    async def _until(self, step: WaitUntil) -> timedelta:
        traits = await self._traits()
        zone = zone_or(traits.get("timezone"), step.default_tz)
        return until_local(workflow.now(), step.time, zone)

    async def _wait_for(self, step: WaitForEvent) -> bool:
        match = EventMatch(event=step.event, where=step.where, correlate=step.correlate)
        found = lambda: self._find(match) is not None  # noqa: E731
        try:
            await workflow.wait_condition(
                lambda: found() or self.outcome is not None, timeout=step.timeout
            )
        except TimeoutError:
            pass
        index = self._find(match)  # checked again: an event in the same task beats the timeout
        if index is None:
            return False
        self.last_event = self.events[index]
        self.used.add(index)
        return True

    def _find(self, match: EventMatch) -> int | None:
        for index in range(len(self.events)):
            if index not in self.used and self._matches(match, self.events[index]):
                return index
        return None

    async def _wait_while_paused(self) -> None:
        """Wait in place until resumed or ended. A journey-wide pause is also lifted by the run
        itself once the journey is no longer paused, checked every PAUSE_CHECK: a resume
        broadcast can miss a run that started a moment before it."""
        assert self.paused is not None
        workflow.set_current_details(
            f"{self.input.name} v{self.input.version}: paused ({self.progress.paused})"
        )
        while self.paused is not None and self.outcome is None:
            try:
                await workflow.wait_condition(
                    lambda: self.paused is None or self.outcome is not None, timeout=PAUSE_CHECK
                )
            except TimeoutError:
                if self.paused.journey_wide and not await JOURNEY_PAUSED.run(
                    LoadSpecInput(name=self.input.name, version=self.input.version),
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                ):
                    self.resume(OperatorCommand())

    async def _decide(self, step: Decide) -> Action | None:
        """Thompson sampling over the eligible actions: each one's conversion rate is drawn
        from its Beta posterior (workflow.random(): replay draws the same), times its value
        plus the customer's predicted CLV; the best expected value wins. The choice is
        recorded with all of its inputs."""
        assert self.spec is not None
        context = await self._context()
        eligible = [a for a in step.actions if a.when is None or evaluate(a.when, context)]
        stats = await DECISION_STATS.run(
            DecisionStatsInput(journey=self.spec.name, step=step.id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        clv = float(context["traits"].get("predicted_clv") or 0) if step.use_clv else 0.0
        rng, samples, expected = workflow.random(), {}, {}
        for action in eligible:
            seen = stats.get(action.name, ActionStats())
            draw = rng.betavariate(1 + seen.conversions, 1 + seen.exposures - seen.conversions)
            samples[action.name] = draw
            expected[action.name] = draw * (action.value + clv)
        chosen = max(eligible, key=lambda a: expected[a.name], default=None)
        await RECORD_DECISION.run(
            DecisionRecord(
                decision_id=f"{workflow.info().workflow_id}:{step.id}:{self.visits[step.id]}",
                workflow_id=workflow.info().workflow_id,
                customer_id=self.input.customer_id,
                journey=self.spec.name,
                version=self.input.version,
                step=step.id,
                chosen=chosen.name if chosen else None,
                eligible=[a.name for a in eligible],
                stats={a.name: stats.get(a.name, ActionStats()) for a in eligible},
                samples=samples,
                values={a.name: a.value for a in eligible},
                clv=clv,
                expected=expected,
                at=workflow.now(),
            ),  # fmt: skip
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"decision at {step.id}: {chosen.name if chosen else 'none eligible'}",
        )
        return chosen

    async def _human_task(self, step: HumanTask) -> str | None:
        """Hand off to a team and wait for its outcome; past the deadline escalate once (when
        `escalate_to` names a team), then expire. The store decides a race with a completion."""
        task_id = f"{workflow.info().workflow_id}:{step.id}:{self.visits[step.id]}"
        await CREATE_TASK.run(
            TaskInput(
                task_id=task_id,
                workflow_id=workflow.info().workflow_id,
                customer_id=self.input.customer_id,
                journey=self.input.name,
                step=step.id,
                team=step.team,
                title=step.title,
                outcomes=list(step.outcomes),
                deadline_at=workflow.now() + step.deadline,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"task for {step.team}: {step.title}",
        )
        for escalate_to in ([step.escalate_to] if step.escalate_to else []) + [None]:
            try:
                await workflow.wait_condition(
                    lambda: task_id in self.task_outcomes or self.outcome is not None,
                    timeout=step.deadline,
                )
            except TimeoutError:
                pass
            if task_id in self.task_outcomes or self.outcome is not None:
                break
            state = await TASK_DEADLINE.run(
                TaskDeadlineInput(task_id=task_id, escalate_to=escalate_to),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            if state.status == "completed" and state.outcome:
                return state.outcome  # completed just before the deadline; its signal is late
        if self.outcome is not None and task_id not in self.task_outcomes:
            await TASK_DEADLINE.run(  # the run ended: nobody should pick it up
                TaskDeadlineInput(task_id=task_id),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        return self.task_outcomes.get(task_id)

    # -- goal, exits, context ------------------------------------------------------------------

    def _matches(self, match: EventMatch, event: CustomerEvent) -> bool:
        if event.key != match.event:
            return False
        if match.correlate:  # only specs published with `correlate` get here: replay-safe
            trigger = self.input.trigger_event
            wanted = trigger.properties.get(match.correlate) if trigger else None
            if wanted is None or event.properties.get(match.correlate) != wanted:
                return False
        if match.where is None:
            return True
        return evaluate(match.where, self._event_context(event))

    def _check_goal_and_exits(self, event: CustomerEvent) -> None:
        assert self.spec is not None
        goal = self.spec.goal
        if goal and self._matches(goal, event):
            if goal.within is None or workflow.now() <= self.entered_at + goal.within:
                self.outcome = "converted"
                return
        if any(self._matches(exit_rule, event) for exit_rule in self.spec.exits):
            self.outcome = "exited"

    def _event_context(self, event: CustomerEvent | None) -> dict[str, Any]:
        return {
            "properties": event.properties if event else {},
            "event": event.key if event else None,
            "stage": self.input.stage.value,
            "segments": [],
        }

    async def _traits(self) -> dict[str, Any]:
        return await CUSTOMER_TRAITS.run(
            ProfileInput(customer_id=self.input.customer_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )

    async def _context(self) -> dict[str, Any]:
        """What a branch condition reads; runs recorded before segments read no segments."""
        if not workflow.patched(SEGMENTS_IN_CONDITIONS_PATCH):
            return {**self._event_context(self.last_event), "traits": await self._traits()}
        profile = await CUSTOMER_PROFILE.run(
            ProfileInput(customer_id=self.input.customer_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        context = self._event_context(self.last_event)
        return {**context, "traits": profile.traits, "segments": profile.segments}

    def _next_record(self) -> int:
        self.records += 1
        return self.records

    async def _record(self, kind: RecordKind, step: str | None = None, detail: str = "") -> None:
        await RECORD_JOURNEY_EVENT.run(
            JourneyRecordInput(
                workflow_id=workflow.info().workflow_id,
                seq=self._next_record(),
                customer_id=self.input.customer_id,
                journey=self.input.name,
                version=self.input.version,
                kind=kind,
                step=step,
                detail=detail,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"record {kind}" + (f" at {step}" if step else ""),
        )

    async def _finish(self) -> None:
        assert self.outcome is not None
        self.progress.outcome = self.outcome
        self.progress.current_step = None
        workflow.set_current_details(f"{self.input.name} v{self.input.version}: {self.outcome}")
        if workflow.patched(STEP_ATTRIBUTE_PATCH):
            workflow.upsert_search_attributes([sa.JOURNEY_STEP.value_set(self.outcome)])
        last_step = self.progress.steps[-1].step if self.progress.steps else ""
        await self._record(self.outcome, detail=self.exit_reason or last_step)
        customer = workflow.get_external_workflow_handle(
            customer_workflow_id(self.input.customer_id)
        )
        try:
            await customer.signal(
                "journey_ended",
                JourneyEnded(
                    name=self.input.name,
                    workflow_id=workflow.info().workflow_id,
                    outcome=self.outcome,
                    at=workflow.now(),
                ),
            )
        except Exception as err:  # noqa: BLE001  (a merged or deleted customer: nothing to free)
            workflow.logger.warning("customer not told of journey end", extra={"error": str(err)})
        await workflow.wait_condition(workflow.all_handlers_finished)

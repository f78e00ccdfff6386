"""JourneyWorkflow: one customer's run through one version of one journey spec.

The spec is data; this class interprets it, handing each step to the part that owns its family
(`steps/`: waits, sends, decide, human tasks) with the run's state (`steps.run.JourneyRun`).
Events the customer sends after entry arrive as signals and are kept: the goal and the exits are
checked against every one of them the moment it arrives (a signal interrupts any wait), and
`wait_for_event` also finds an event that arrived earlier, while the run was still in a delay.
"""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary import search_attributes as sa
    from journeys.vocabulary.activity_refs import LOAD_JOURNEY_SPEC, UPDATE_PROFILE
    from journeys.vocabulary.customer_types import ProfileUpdateInput
    from journeys.vocabulary.events import EventBatch
    from journeys.vocabulary.goals import branch_detail, first_case
    from journeys.vocabulary.holdouts import hash_point, held_out
    from journeys.vocabulary.journey_spec import (
        Branch,
        Decide,
        Exit,
        Experiment,
        HumanTask,
        Recommend,
        Send,
        Step,
        UpdateProfile,
        Wait,
        WaitForEvent,
        WaitUntil,
    )
    from journeys.vocabulary.journey_types import (
        COMPLETE_TASK_UPDATE,
        JOURNEY_EVENTS_SIGNAL,
        JourneyEnded,
        JourneyInput,
        JourneyProgress,
        LoadSpecInput,
        OperatorCommand,
        Reassign,
        StepRecord,
        TaskOutcome,
    )
    from journeys.vocabulary.patches import PATHS
    from journeys.workflows.history import history_is_long
    from journeys.workflows.steps.decide import Decisions
    from journeys.workflows.steps.human_tasks import HumanTasks
    from journeys.workflows.steps.run import ACTIVITY_TIMEOUT, JourneyRun, upsert_changed
    from journeys.workflows.steps.sends import Sends
    from journeys.workflows.steps.waits import Waits


# A send checks the customer's quiet hours and writes its step's record in its own activity
# (v1): the two local activities each send cost before (the customer's time zone, the record
# before the next wait) are gone. The run decides once, at its start.
SEND_IN_ONE_ACTIVITY = "send_in_one_activity"
# a run started since this patch does its store work in regular activities (docs/versioning.md)
NO_LOCAL_ACTIVITIES = "no_local_activities"
# Both of the above in one marker (v4): a run started since records this one only, where each
# patch cost it a marker and a TemporalChangeVersion upsert (two of a short run's 16 events).
# Runs that recorded the two older markers still replay through them.
SENDS_AND_STORE_WORK = "send_in_one_activity_no_local_activities"


def _branch_target(step: Branch, case: int | None, after: str | None) -> str | None:
    """Where a branch goes: its case's `goto`, else its `otherwise` or the next step."""
    return step.otherwise or after if case is None else step.cases[case].goto


def assign_variant(key: str, weights: list[float]) -> int:
    """Deterministic weighted assignment: the same customer always gets the same variant."""
    point = hash_point(key)
    total, edge = sum(weights), 0.0
    for index, weight in enumerate(weights):
        edge += weight / total
        if point < edge:
            return index
    return len(weights) - 1


@workflow.defn
class JourneyWorkflow:
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self.journey = JourneyRun(input)
        self.waits = Waits(self.journey)
        self.sends = Sends(self.journey)
        self.decisions = Decisions(self.journey)
        self.tasks = HumanTasks(self.journey)
        if input.paused:  # entered while the whole journey was paused
            self.journey.pause(OperatorCommand(reason="journey paused", journey_wide=True))

    # -- handlers: signals change the run, the query reads it ----------------------------------

    @workflow.signal(name=JOURNEY_EVENTS_SIGNAL)
    def receive(self, batch: EventBatch) -> None:
        for event in batch.events:
            self.journey.receive(event)

    @workflow.signal(name="reassign")
    def reassign(self, change: Reassign) -> None:
        self.journey.input.customer_id = change.customer_id
        self.journey.progress.customer_id = change.customer_id

    @workflow.signal(name="task_completed")
    def task_completed(self, answer: TaskOutcome) -> None:
        self.tasks.completed(answer)

    @workflow.update(name=COMPLETE_TASK_UPDATE)
    def complete_task(self, answer: TaskOutcome) -> str:
        """A person's answer, with what became of it ("accepted", or "already answered: x"):
        the API's way, so a caller knows the run has it."""
        return self.tasks.answer(answer)

    @complete_task.validator
    def _check_completion(self, answer: TaskOutcome) -> None:
        self.tasks.check(answer)

    @workflow.signal(name="pause")
    def pause(self, command: OperatorCommand) -> None:
        self.journey.pause(command)

    @workflow.signal(name="resume")
    def resume(self, command: OperatorCommand) -> None:
        self.journey.resume(command)

    @workflow.signal(name="exit")
    def operator_exit(self, command: OperatorCommand) -> None:
        journey = self.journey
        if journey.outcome is None:  # interrupts any wait, like an exit rule
            journey.outcome = "exited"
            journey.exit_reason = f"exited by an operator: {command.reason or 'no reason given'}"

    @workflow.query(name="progress")
    def get_progress(self) -> JourneyProgress:
        return self.journey.progress

    # -- the run -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyProgress:
        journey = self.journey
        if input.paths >= 1 or workflow.patched(SENDS_AND_STORE_WORK):
            self.sends.in_one_activity, journey.local_activities = True, input.local_activities
        else:  # a run started before v4, with the marker(s) it recorded then
            self.sends.in_one_activity = workflow.patched(SEND_IN_ONE_ACTIVITY)
            journey.local_activities = (
                not workflow.patched(NO_LOCAL_ACTIVITIES) or input.local_activities
            )
        if journey.spec is None:
            journey.spec = await LOAD_JOURNEY_SPEC.run(
                LoadSpecInput(name=input.name, version=input.version),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            for event in journey.events:  # events that arrived before the spec was known
                if journey.outcome is None:
                    journey.check_goal_and_exits(event)
        if journey.input.held_out is None:  # decided at entry, carried through continue-as-new
            journey.input.held_out = held_out(input.name, input.customer_id, journey.spec.holdout)
        upsert_changed(  # the customer's start sets them; a run started otherwise sets them here
            sa.CUSTOMER_ID.value_set(input.customer_id),
            sa.JOURNEY_NAME.value_set(input.name),
            sa.JOURNEY_VERSION.value_set(input.version),
        )
        step_id: str | None = journey.spec.steps[0].id
        if input.resume is not None:  # the previous run of this chain stood here
            step_id = input.resume.step
            self.sends.policy = input.resume.delivery
            self.sends.products = input.resume.products
        elif input.entered_at is None:
            journey.record("entered", detail=f"v{input.version}")
        else:  # held by the customer through its first step, a wait, which is over now
            first = journey.spec.steps[0]
            journey.visits[first.id] = 1
            journey.note_step(
                StepRecord(step=first.id, kind=first.kind, at=workflow.now(), result="")
            )
            journey.record("step", step=first.id)
            step_id = journey.spec.after(first.id)
        while step_id is not None and journey.outcome is None:
            if history_is_long(input.continue_as_new_after):
                await self._continue_as_new(input, step_id)
            journey.progress.current_step = step_id
            journey.show(f"step **{step_id}**")
            if journey.paused is not None:
                await journey.wait_while_paused()
                if journey.outcome is not None:
                    break
            step_id = await self._execute(step_id)
        if journey.outcome is None:
            journey.outcome = "completed"
        await self._finish()
        return journey.progress

    async def _continue_as_new(self, input: JourneyInput, step_id: str) -> None:
        """Between two steps: hand the run, as it stands, to a new run of the same workflow id
        (a journey that loops for years through waits keeps its history bounded)."""
        journey = self.journey
        await journey.write_records()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.logger.info(
            "journey run continues as new",
            extra={"customer_id": input.customer_id, "journey": input.name, "step": step_id},
        )
        carry = journey.carry(step_id, self.sends.policy, self.sends.products)
        workflow.continue_as_new(
            journey.input.model_copy(
                update={"resume": carry, "spec": journey.spec, "paused": False, "paths": PATHS}
            )
        )

    async def _execute(self, step_id: str) -> str | None:
        """Run one step; the id of the step that follows (None: the run ends)."""
        journey = self.journey
        assert journey.spec is not None
        step = journey.spec.step(step_id)
        journey.visits[step_id] = journey.visits.get(step_id, 0) + 1
        result, target = await self._step(step, journey.spec.after(step_id))
        written, journey.step_written = journey.step_written, False  # by the send, as it was
        if journey.outcome is not None and not isinstance(step, Exit) and not written:
            result = f"interrupted: {journey.outcome}"  # a goal or an exit cut the step short
        journey.note_step(
            StepRecord(step=step.id, kind=step.kind, at=workflow.now(), result=result)
        )
        if not written:
            journey.record("step", step=step.id, detail=result)
        elif journey.handed_branch is not None and target is not None:
            target = self._take_handed_branch(target)
        return target

    def _take_handed_branch(self, branch_id: str) -> str | None:
        """The branch after a send, which the send took and recorded (`BranchAhead`): done here,
        with the send, whatever came meanwhile (a branch does nothing but choose)."""
        journey = self.journey
        assert journey.spec is not None and journey.handed_branch is not None
        case, journey.handed_branch, journey.handed_profile = journey.handed_branch.case, None, None
        branch = journey.spec.step(branch_id)
        assert isinstance(branch, Branch)
        journey.visits[branch_id] = journey.visits.get(branch_id, 0) + 1
        journey.note_step(
            StepRecord(
                step=branch_id, kind=branch.kind, at=workflow.now(), result=branch_detail(case)
            )
        )
        journey.records += 1  # its record, numbered after the send's, written by the send
        return _branch_target(branch, case, journey.spec.after(branch_id))

    async def _step(self, step: Step, after: str | None) -> tuple[str, str | None]:
        """(what the step did, where the run goes next)."""
        journey = self.journey
        if isinstance(step, Wait):
            await self.waits.wait(step)
        elif isinstance(step, WaitUntil):
            await self.waits.wait_until(step)
        elif isinstance(step, WaitForEvent):
            found = await self.waits.wait_for_event(step)
            target = step.on_event if found else step.on_timeout
            return ("event" if found else "timeout"), target or after
        elif isinstance(step, Branch):
            case = first_case([c.when for c in step.cases], await journey.context())
            return branch_detail(case), _branch_target(step, case, after)
        elif isinstance(step, Experiment):
            assert journey.spec is not None
            key = f"{journey.spec.name}:{step.id}:{journey.input.customer_id}"
            variant = step.variants[assign_variant(key, [v.weight for v in step.variants])]
            journey.progress.assignments[step.id] = variant.name
            return f"variant {variant.name}", variant.goto
        elif isinstance(step, Send):
            return await self.sends.send(step), after
        elif isinstance(step, Recommend):
            return await self.sends.recommend(step), after
        elif isinstance(step, Decide):
            chosen = await self.decisions.decide(step)
            if chosen is None:
                return "no eligible action", step.otherwise or after
            return f"action {chosen.name}", chosen.goto
        elif isinstance(step, HumanTask):
            answer = await self.tasks.hand_off(step)
            if not answer:
                return "deadline", step.on_deadline or after
            return f"outcome {answer}", step.outcomes[answer]
        elif isinstance(step, UpdateProfile):
            await UPDATE_PROFILE.run_store(
                ProfileUpdateInput(
                    customer_id=journey.input.customer_id,
                    message_id=f"{workflow.info().workflow_id}:{step.id}",
                    at=workflow.now(),
                    traits=step.traits,
                ),
                local=journey.local_activities,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        elif isinstance(step, Exit):
            journey.outcome, journey.exit_step, journey.exit_reason = "exited", True, step.reason
            return step.reason, None
        else:  # publishing refuses kinds this worker cannot run yet; never skip one silently
            raise ApplicationError(f"step kind {step.kind!r} is not supported", non_retryable=True)
        return "", after

    async def _finish(self) -> None:
        journey = self.journey
        assert journey.outcome is not None
        journey.progress.outcome = journey.outcome
        journey.progress.current_step = None
        journey.show(journey.outcome)
        workflow.upsert_search_attributes([sa.JOURNEY_STEP.value_set(journey.outcome)])
        last_step = journey.progress.steps[-1].step if journey.progress.steps else ""
        journey.record(journey.outcome, detail=journey.exit_reason or last_step)
        await journey.write_records(  # and the customer is told, to free the journey
            ended=JourneyEnded(
                name=journey.input.name,
                workflow_id=workflow.info().workflow_id,
                outcome=journey.outcome,
                at=workflow.now(),
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)

"""The `human_task` step: hand off to a team and wait for its outcome; past the deadline
escalate once (when `escalate_to` names a team), then expire. The store decides a race between
the deadline and a completion."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import CREATE_TASK, TASK_DEADLINE
    from journeys.vocabulary.journey_spec import HumanTask
    from journeys.vocabulary.journey_types import TaskDeadlineInput, TaskInput, TaskOutcome
    from journeys.workflows.steps.run import ACTIVITY_TIMEOUT, JourneyRun


class HumanTasks:
    def __init__(self, run: JourneyRun) -> None:
        self.run = run
        self.outcomes: dict[str, str] = {}  # task id -> outcome, from `task_completed`
        self.offered: dict[str, list[str]] = {}  # the open task's id -> its step's outcomes

    def completed(self, answer: TaskOutcome) -> None:
        """The `task_completed` signal (sent by hand): what the update's validator would refuse
        is logged and ignored, and the task stays open."""
        try:
            self.check(answer)
        except ValueError as refused:
            workflow.logger.warning(
                "task outcome ignored", extra={"task_id": answer.task_id, "reason": str(refused)}
            )
            return
        self.answer(answer)

    def check(self, answer: TaskOutcome) -> None:
        """The `complete_task` update's validator: refuse (before it reaches the history) an
        answer to a task this run is not waiting for, or with an outcome the step lacks."""
        if answer.task_id in self.outcomes:
            return  # answered already: the update says so
        offered = self.offered.get(answer.task_id)
        if offered is None:
            raise ValueError(f"this run is not waiting for task {answer.task_id!r}")
        if answer.outcome not in offered:
            raise ValueError(f"unknown outcome {answer.outcome!r}; one of {', '.join(offered)}")

    def answer(self, answer: TaskOutcome) -> str:
        """The `complete_task` update: what became of the answer."""
        given = self.outcomes.setdefault(answer.task_id, answer.outcome)
        if given != answer.outcome:
            return f"already answered: {given}"
        return "accepted"

    async def hand_off(self, step: HumanTask) -> str | None:
        """The outcome the team chose, or None when the deadline passed."""
        run = self.run
        task_id = run.visit_id(step.id)
        await CREATE_TASK.run_store(
            TaskInput(
                task_id=task_id,
                workflow_id=workflow.info().workflow_id,
                customer_id=run.input.customer_id,
                journey=run.input.name,
                step=step.id,
                team=step.team,
                title=step.title,
                outcomes=list(step.outcomes),
                deadline_at=workflow.now() + step.deadline,
            ),
            local=run.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"task for {step.team}: {step.title}",
        )
        self.offered[task_id] = list(step.outcomes)
        await run.park()  # the team may take days: the store should know the run waits
        for escalate_to in ([step.escalate_to] if step.escalate_to else []) + [None]:
            try:
                await workflow.wait_condition(
                    lambda: task_id in self.outcomes or run.outcome is not None,
                    timeout=step.deadline,
                )
            except TimeoutError:
                pass
            if task_id in self.outcomes or run.outcome is not None:
                break
            state = await TASK_DEADLINE.run_store(
                TaskDeadlineInput(task_id=task_id, escalate_to=escalate_to),
                local=run.local_activities,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
            if state.status == "completed" and state.outcome:
                return state.outcome  # completed just before the deadline; its signal is late
        if run.outcome is not None and task_id not in self.outcomes:
            await TASK_DEADLINE.run_store(  # the run ended: nobody should pick it up
                TaskDeadlineInput(task_id=task_id),
                local=run.local_activities,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
            )
        return self.outcomes.get(task_id)

"""The `decide` step: Thompson sampling over the eligible actions.

Each action's conversion rate is drawn from its Beta posterior (`workflow.random()`: replay
draws the same), times its value plus the customer's predicted CLV; the best expected value
wins. The choice is recorded with all of its inputs, so the results can be audited.
"""

from random import Random

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.activity_refs import DECISION_STATS, RECORD_DECISION
    from journeys.vocabulary.expressions import evaluate
    from journeys.vocabulary.journey_spec import Action, Decide
    from journeys.vocabulary.journey_types import ActionStats, DecisionRecord, DecisionStatsInput
    from journeys.workflows.steps.run import ACTIVITY_TIMEOUT, JourneyRun


def thompson_choice(
    eligible: list[Action], stats: dict[str, ActionStats], clv: float, rng: Random
) -> tuple[Action | None, dict[str, float], dict[str, float]]:
    """The action with the best sampled value, with each action's draw and expected value.
    A draw per action, in spec order: the same random stream makes the same choice."""
    samples, expected = {}, {}
    for action in eligible:
        seen = stats.get(action.name, ActionStats())
        draw = rng.betavariate(1 + seen.conversions, 1 + seen.exposures - seen.conversions)
        samples[action.name] = draw
        expected[action.name] = draw * (action.value + clv)
    chosen = max(eligible, key=lambda a: expected[a.name], default=None)
    return chosen, samples, expected


class Decisions:
    def __init__(self, run: JourneyRun) -> None:
        self.run = run

    async def decide(self, step: Decide) -> Action | None:
        run = self.run
        assert run.spec is not None
        context = await run.context()
        eligible = [a for a in step.actions if a.when is None or evaluate(a.when, context)]
        stats = await DECISION_STATS.run_store(
            DecisionStatsInput(journey=run.spec.name, step=step.id),
            local=run.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        clv = float(context["traits"].get("predicted_clv") or 0) if step.use_clv else 0.0
        chosen, samples, expected = thompson_choice(eligible, stats, clv, workflow.random())
        await RECORD_DECISION.run_store(
            DecisionRecord(
                decision_id=run.visit_id(step.id),
                workflow_id=workflow.info().workflow_id,
                customer_id=run.input.customer_id,
                journey=run.spec.name,
                version=run.input.version,
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
            local=run.local_activities,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            summary=f"decision at {step.id}: {chosen.name if chosen else 'none eligible'}",
        )
        return chosen

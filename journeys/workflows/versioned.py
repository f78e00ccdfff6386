"""The workflow types as a versioned worker (JOURNEYS_WORKER_DEPLOYMENT) registers them, each
with its Worker Versioning behaviour; docs/versioning.md says why each one.

Subclasses, not arguments on the originals: the server refuses a behaviour from an unversioned
worker, and the originals serve unversioned workers, the time-skipping tests and replay. Each
only re-declares `run` (the SDK wants it on the registered class); no command changes.
"""

from temporalio import workflow
from temporalio.common import VersioningBehavior

from journeys.workflows.backtest import BacktestWorkflow
from journeys.workflows.clv_fit import ClvFitWorkflow
from journeys.workflows.customer import CustomerWorkflow
from journeys.workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from journeys.workflows.journey import JourneyWorkflow
from journeys.workflows.recommendation_training import RecommendationTrainingWorkflow
from journeys.workflows.segment_refresh import SegmentRefreshWorkflow

with workflow.unsafe.imports_passed_through():
    from journeys.vocabulary.backtest_types import BACKTEST_WORKFLOW, BacktestInput, BacktestResult
    from journeys.vocabulary.customer_types import CUSTOMER_WORKFLOW, CustomerInput, CustomerState
    from journeys.vocabulary.experiment_types import (
        EvaluateExperimentsInput,
        EvaluateExperimentsResult,
    )
    from journeys.vocabulary.journey_types import JourneyInput, JourneyProgress
    from journeys.vocabulary.kpi_types import ClvFitInput, ClvFitResult
    from journeys.vocabulary.recommendation_types import (
        TrainRecommendersInput,
        TrainRecommendersResult,
    )
    from journeys.vocabulary.segment_types import SegmentRefreshInput, SegmentRefreshResult

PINNED, AUTO_UPGRADE = VersioningBehavior.PINNED, VersioningBehavior.AUTO_UPGRADE


@workflow.defn(name=CUSTOMER_WORKFLOW, versioning_behavior=PINNED)
class PinnedCustomerWorkflow(CustomerWorkflow):
    """Lives for years: a run never changes build; continue-as-new starts the next run on the
    Current Version, so customers move to new code without patches."""

    @workflow.run
    async def run(self, input: CustomerInput) -> CustomerState:
        return await super().run(input)


@workflow.defn(name="JourneyWorkflow", versioning_behavior=AUTO_UPGRADE)
class UpgradingJourneyWorkflow(JourneyWorkflow):
    """Days to weeks without continue-as-new: pinning would keep old builds alive for the
    longest journey; instead runs move to each new build, whose patches replay them."""

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyProgress:
        return await super().run(input)


@workflow.defn(name="SegmentRefreshWorkflow", versioning_behavior=PINNED)
class PinnedSegmentRefreshWorkflow(SegmentRefreshWorkflow):
    """Minutes: done on the build it started on."""

    @workflow.run
    async def run(self, input: SegmentRefreshInput) -> SegmentRefreshResult:
        return await super().run(input)


@workflow.defn(name="RecommendationTrainingWorkflow", versioning_behavior=PINNED)
class PinnedRecommendationTrainingWorkflow(RecommendationTrainingWorkflow):
    """Minutes: done on the build it started on."""

    @workflow.run
    async def run(self, input: TrainRecommendersInput) -> TrainRecommendersResult:
        return await super().run(input)


@workflow.defn(name="ExperimentEvaluationWorkflow", versioning_behavior=PINNED)
class PinnedExperimentEvaluationWorkflow(ExperimentEvaluationWorkflow):
    """Minutes: done on the build it started on."""

    @workflow.run
    async def run(self, input: EvaluateExperimentsInput) -> EvaluateExperimentsResult:
        return await super().run(input)


@workflow.defn(name="ClvFitWorkflow", versioning_behavior=PINNED)
class PinnedClvFitWorkflow(ClvFitWorkflow):
    """Minutes: done on the build it started on."""

    @workflow.run
    async def run(self, input: ClvFitInput) -> ClvFitResult:
        return await super().run(input)


@workflow.defn(name=BACKTEST_WORKFLOW, versioning_behavior=PINNED)
class PinnedBacktestWorkflow(BacktestWorkflow):
    """Minutes to hours, one activity: done on the build it started on."""

    @workflow.run
    async def run(self, input: BacktestInput) -> BacktestResult:
        return await super().run(input)


VERSIONED_WORKFLOWS = (
    PinnedCustomerWorkflow,
    UpgradingJourneyWorkflow,
    PinnedSegmentRefreshWorkflow,
    PinnedRecommendationTrainingWorkflow,
    PinnedExperimentEvaluationWorkflow,
    PinnedClvFitWorkflow,
    PinnedBacktestWorkflow,
)

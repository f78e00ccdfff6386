"""The activities the workflows call: each one's name, input and result type.

Workflows call activities through these references, never by importing the activity classes
(which bring the database, HTTP clients and templates into the workflow sandbox) and never by a
bare string. Each implementation is declared with its reference's name
(`@activity.defn(name=FIT_CLV.name)`), and a test holds the two together (name, input, result).
"""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio import workflow

from journeys.vocabulary.backtest_types import BacktestInput, BacktestResult
from journeys.vocabulary.customer_types import (
    CustomerChangesInput,
    CustomerChangesResult,
    CustomerRunInput,
    CustomerRunSetup,
    MergeProfilesInput,
    ProfileUpdateInput,
)
from journeys.vocabulary.experiment_types import EvaluateExperimentsInput, EvaluateExperimentsResult
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import (
    ActionStats,
    CustomerProfile,
    DecisionRecord,
    DecisionStatsInput,
    DeliveryPolicy,
    DeliveryResult,
    GiveUpInput,
    JourneyCatalog,
    JourneyRecordsInput,
    LoadSpecInput,
    ProfileInput,
    QueueMessageInput,
    TaskDeadlineInput,
    TaskInput,
    TaskState,
)
from journeys.vocabulary.kpi_types import ClvFitInput, ClvFitResult
from journeys.vocabulary.recommendation_types import (
    Recommendations,
    RecommendInput,
    TrainRecommendersInput,
    TrainRecommendersResult,
)
from journeys.vocabulary.segment_types import (
    SegmentRefreshInput,
    SegmentRefreshResult,
)

InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")


class NoInput:
    """The input type of an activity that takes none."""


@dataclass(frozen=True)
class ActivityRef(Generic[InputT, ResultT]):
    name: str
    input_type: type[InputT]
    result_type: Any  # a type or a generic alias such as dict[str, ActionStats]

    async def run(self, input: InputT | None = None, **options: Any) -> ResultT:
        """`workflow.execute_activity` under this name; `options` are its keyword arguments."""
        args = [] if input is None else [input]
        result: ResultT = await workflow.execute_activity(
            self.name, args=args, result_type=self._hint(), **options
        )
        return result

    async def run_store(
        self, input: InputT | None = None, *, local: bool, **options: Any
    ) -> ResultT:
        """Short store work of a long-lived run: a regular activity, or a local one where the
        run was started that way (before the patch `no_local_activities`, and in backtests,
        which ask no query while a run is busy). A query answered while a local activity runs
        can leave a history that does not replay (docs/versioning.md)."""
        if not local:
            return await self.run(input, **options)
        result: ResultT = await workflow.execute_local_activity(
            self.name, args=[] if input is None else [input], result_type=self._hint(), **options
        )
        return result

    def _hint(self) -> Any:
        return None if self.result_type is type(None) else self.result_type


# customer lifecycle and profiles
BEGIN_CUSTOMER_RUN: ActivityRef[CustomerRunInput, CustomerRunSetup] = ActivityRef(
    "begin_customer_run", CustomerRunInput, CustomerRunSetup
)
APPLY_CUSTOMER_CHANGES: ActivityRef[CustomerChangesInput, CustomerChangesResult] = ActivityRef(
    "apply_customer_changes", CustomerChangesInput, CustomerChangesResult
)
UPDATE_PROFILE: ActivityRef[ProfileUpdateInput, None] = ActivityRef(
    "update_profile", ProfileUpdateInput, type(None)
)
MERGE_PROFILES: ActivityRef[MergeProfilesInput, None] = ActivityRef(
    "merge_profiles", MergeProfilesInput, type(None)
)

# journeys
LOAD_JOURNEY_CATALOG: ActivityRef[NoInput, JourneyCatalog] = ActivityRef(
    "load_journey_catalog", NoInput, JourneyCatalog
)
LOAD_JOURNEY_SPEC: ActivityRef[LoadSpecInput, JourneySpec] = ActivityRef(
    "load_journey_spec", LoadSpecInput, JourneySpec
)
JOURNEY_PAUSED: ActivityRef[LoadSpecInput, bool] = ActivityRef(
    "journey_paused", LoadSpecInput, bool
)
CUSTOMER_TRAITS: ActivityRef[ProfileInput, dict[str, Any]] = ActivityRef(
    "customer_traits", ProfileInput, dict[str, Any]
)
CUSTOMER_PROFILE: ActivityRef[ProfileInput, CustomerProfile] = ActivityRef(
    "customer_profile", ProfileInput, CustomerProfile
)
DECISION_STATS: ActivityRef[DecisionStatsInput, dict[str, ActionStats]] = ActivityRef(
    "decision_stats", DecisionStatsInput, dict[str, ActionStats]
)
RECORD_DECISION: ActivityRef[DecisionRecord, None] = ActivityRef(
    "record_decision", DecisionRecord, type(None)
)
RECORD_JOURNEY_EVENTS: ActivityRef[JourneyRecordsInput, None] = ActivityRef(
    "record_journey_events", JourneyRecordsInput, type(None)
)
CREATE_TASK: ActivityRef[TaskInput, None] = ActivityRef("create_task", TaskInput, type(None))
TASK_DEADLINE: ActivityRef[TaskDeadlineInput, TaskState] = ActivityRef(
    "task_deadline", TaskDeadlineInput, TaskState
)

# sends
DELIVERY_POLICY: ActivityRef[NoInput, DeliveryPolicy] = ActivityRef(
    "delivery_policy", NoInput, DeliveryPolicy
)
DELIVER_MESSAGE: ActivityRef[QueueMessageInput, DeliveryResult] = ActivityRef(
    "deliver_message", QueueMessageInput, DeliveryResult
)
GIVE_UP_MESSAGE: ActivityRef[GiveUpInput, bool] = ActivityRef("give_up_message", GiveUpInput, bool)
RECOMMEND_PRODUCTS: ActivityRef[RecommendInput, Recommendations] = ActivityRef(
    "recommend_products", RecommendInput, Recommendations
)

# batch work
RUN_BACKTEST: ActivityRef[BacktestInput, BacktestResult] = ActivityRef(
    "run_backtest", BacktestInput, BacktestResult
)
FIT_CLV: ActivityRef[ClvFitInput, ClvFitResult] = ActivityRef("fit_clv", ClvFitInput, ClvFitResult)
TRAIN_RECOMMENDERS: ActivityRef[TrainRecommendersInput, TrainRecommendersResult] = ActivityRef(
    "train_recommenders", TrainRecommendersInput, TrainRecommendersResult
)
EVALUATE_EXPERIMENTS: ActivityRef[EvaluateExperimentsInput, EvaluateExperimentsResult] = (
    ActivityRef("evaluate_experiments", EvaluateExperimentsInput, EvaluateExperimentsResult)
)
REFRESH_SEGMENTS: ActivityRef[SegmentRefreshInput, SegmentRefreshResult] = ActivityRef(
    "refresh_segments", SegmentRefreshInput, SegmentRefreshResult
)

ALL: list[ActivityRef[Any, Any]] = [
    value for value in list(globals().values()) if isinstance(value, ActivityRef)
]

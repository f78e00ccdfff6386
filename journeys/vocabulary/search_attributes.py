"""Custom search attributes: the names operators type in `temporal workflow list --query`.

Only the customer id and coarse state go here, never personal data.
"""

from typing import Any

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
LIFECYCLE_STAGE = SearchAttributeKey.for_keyword("LifecycleStage")
AT_RISK = SearchAttributeKey.for_bool("AtRisk")
ACTIVE_JOURNEYS = SearchAttributeKey.for_keyword_list("ActiveJourneys")
# those of ActiveJourneys whose run the customer holds in its first wait (no run workflow yet)
HELD_JOURNEYS = SearchAttributeKey.for_keyword_list("HeldJourneys")
JOURNEY_NAME = SearchAttributeKey.for_keyword("JourneyName")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
JOURNEY_STEP = SearchAttributeKey.for_keyword("JourneyStep")  # the step, or how the run ended

ALL: list[SearchAttributeKey[Any]] = [
    CUSTOMER_ID,
    LIFECYCLE_STAGE,
    AT_RISK,
    ACTIVE_JOURNEYS,
    HELD_JOURNEYS,
    JOURNEY_NAME,
    JOURNEY_VERSION,
    JOURNEY_STEP,
]

"""Custom search attributes: the names operators type in `temporal workflow list --query`.

Only the customer id and coarse state go here, never personal data.
"""

from temporalio.common import SearchAttributeKey

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
LIFECYCLE_STAGE = SearchAttributeKey.for_keyword("LifecycleStage")
AT_RISK = SearchAttributeKey.for_bool("AtRisk")

ALL = [CUSTOMER_ID, LIFECYCLE_STAGE, AT_RISK]

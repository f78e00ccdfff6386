"""Workflow ids (deterministic, so a start is idempotent and operators can guess them) and
task queue names."""

ANONYMOUS_PREFIX = "anon-"  # an anonymous visitor's customer id: anon-{anonymousId}
ESCAPE = "~"  # before a userId that would read as an anonymous (or escaped) customer id


def customer_workflow_id(customer_id: str) -> str:
    return f"customer-{customer_id}"


def identified_customer_id(user_id: str) -> str:
    """A userId's customer id: the userId itself, unless it starts like an anonymous one
    (`anon-…`) or an escaped one (`~…`); those get `~` in front, so a real userId never names
    an anonymous visitor's customer."""
    return ESCAPE + user_id if user_id.startswith((ANONYMOUS_PREFIX, ESCAPE)) else user_id


def anonymous_customer_id(anonymous_id: str) -> str:
    return ANONYMOUS_PREFIX + anonymous_id


def segment_ids(customer_id: str) -> tuple[str | None, str | None]:
    """The (userId, anonymousId) a call for this customer carries: the inverse of the two
    functions above."""
    if customer_id.startswith(ANONYMOUS_PREFIX):
        return None, customer_id.removeprefix(ANONYMOUS_PREFIX)
    return customer_id.removeprefix(ESCAPE) if customer_id.startswith(ESCAPE) else customer_id, None


def journey_workflow_id(name: str, customer_id: str, run: int, epoch: int = 1) -> str:
    """`run` counts the customer's entries into the journey, carried across continue-as-new,
    so ids stay unique for the customer's whole life; `epoch` numbers that life, so a customer
    recreated after its workflow ended (a later epoch) never takes an earlier life's ids, nor
    the send ledger's keys made of them. The first life's ids carry no epoch:
    `journey-welcome-u-42-1`, then `journey-welcome-u-42-2.1` in the second."""
    return f"journey-{name}-{customer_id}-{run if epoch <= 1 else f'{epoch}.{run}'}"


PROVIDER_CHANNELS = ("email", "sms", "push", "webhook")  # each with its own task queue


def channel_task_queue(task_queue: str, channel: str) -> str:
    """Sends through a provider run on their channel's own task queue, so Temporal can hold
    each provider to its rate limit across every worker."""
    return f"{task_queue}-{channel}"

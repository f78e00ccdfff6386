"""Workflow ids: deterministic, so a start is idempotent and operators can guess them."""


def customer_workflow_id(customer_id: str) -> str:
    return f"customer-{customer_id}"


def journey_workflow_id(name: str, customer_id: str, run: int) -> str:
    """`run` counts the customer's entries into the journey, carried across continue-as-new,
    so ids stay unique for the customer's whole life."""
    return f"journey-{name}-{customer_id}-{run}"

"""Who is held out: a journey's holdout group (entrants who follow the journey but receive
nothing from it) and the optional global control group (customers who receive no marketing
message from any journey). Membership is a hash of the customer id, so it is sticky across
re-entries, the same in the workflow, the send activity and the report, and needs no state.
"""

import hashlib

HOLDOUT_REASON = "holdout: the journey holds this customer out"
GLOBAL_CONTROL_REASON = "global control group: no marketing messages"


def hash_point(key: str) -> float:
    """A point in [0, 1) that depends on `key` alone."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def held_out(journey: str, customer_id: str, share: float) -> bool:
    return share > 0 and hash_point(f"{journey}:holdout:{customer_id}") < share


def in_global_control(customer_id: str, share: float) -> bool:
    return share > 0 and hash_point(f"global-control:{customer_id}") < share

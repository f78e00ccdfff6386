"""What the recommenders learn from and what they produce: interactions, catalogue items,
customer context, and the JSON-able `Model`."""

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Interaction:
    """A customer's interaction with a product: a purchase (quantity, order id) or, with
    `order_id` None, a weaker signal such as a view (a fractional quantity)."""

    customer: str
    product: str
    timestamp: float  # seconds since the epoch
    quantity: float = 1.0
    order_id: str | None = None


@dataclass(frozen=True)
class CatalogueItem:
    product_id: str
    name: str = ""
    description: str = ""
    category: str = ""


@dataclass
class Customer:
    """What serving knows of a customer: products interacted with, oldest first (repeats
    allowed), and the products they bought (excluded from most recommendations)."""

    history: list[str] = field(default_factory=list)
    purchased: set[str] = field(default_factory=set)

    def recent(self, n: int) -> list[str]:
        """The last `n` distinct products, most recent first."""
        seen: list[str] = []
        for product in reversed(self.history):
            if product not in seen:
                seen.append(product)
                if len(seen) == n:
                    break
        return seen


@dataclass
class Model:
    """A fitted recommender. `payload` holds plain JSON values and arrays packed by `pack`."""

    kind: str
    params: dict[str, Any]
    payload: dict[str, Any]
    # lookups derived from the payload once per loaded model (serving), never stored
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params, "payload": _encode(self.payload)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Model":
        return cls(kind=data["kind"], params=data["params"], payload=_decode(data["payload"]))


Scored = list[tuple[str, float]]  # (product id, score), best first


def _encode(value: Any) -> Any:
    """Arrays as base64 of their bytes: a 10,000 × 50 neighbour table is 2 MB, not 10 MB of
    JSON numbers."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {
            "__array__": array.dtype.str,
            "shape": list(array.shape),
            "data": base64.b64encode(array.tobytes()).decode(),
        }
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            raw = base64.b64decode(value["data"])
            return np.frombuffer(raw, dtype=np.dtype(value["__array__"])).reshape(value["shape"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value

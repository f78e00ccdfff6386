"""The journey condition language: one Python-like expression, evaluated without `eval`.

    traits.plan == "pro" and properties.total >= 50 and "vip" in segments

Names: `traits`, `properties`, `event`, `stage`, `segments`. Missing keys read as None, and an
expression that cannot be evaluated for a customer (None > 3) is false for that customer, never
an error mid-journey. Syntax and names are checked when a journey is published.
"""

import ast
from collections.abc import Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes

NAMES = ("traits", "properties", "event", "stage", "segments")
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Name, ast.Load, ast.Attribute,
    ast.Subscript, ast.Constant, ast.Tuple, ast.List, ast.IfExp,
)  # fmt: skip


class _Lenient(dict[str, Any]):
    """A mapping whose missing keys read as None, so `traits.nickname == "x"` is just false."""

    def __missing__(self, key: str) -> None:
        return None


def _lenient(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Lenient({k: _lenient(v) for k, v in value.items()})
    return value


def check(expression: str) -> str | None:
    """The reason `expression` is not valid, or None."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as err:
        return f"syntax error at column {err.offset}: {err.msg}"
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            return f"{type(node).__name__} is not allowed in a condition"
        if isinstance(node, ast.Name) and node.id not in NAMES:
            return f"unknown name {node.id!r}; use one of {', '.join(NAMES)}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"attribute {node.attr!r} is not allowed"
    return None


def names_read(expression: str) -> set[str]:
    """The context names a valid expression reads (`traits`, `stage`, ...)."""
    tree = ast.parse(expression, mode="eval")
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in NAMES}


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """True when the expression holds for `context`; false when it cannot be evaluated."""
    names = {name: _lenient(context.get(name)) for name in NAMES}
    try:
        return bool(EvalWithCompoundTypes(names=names, functions={}).eval(expression))
    except Exception:  # noqa: BLE001  (any failure is "false": an error here would stall a workflow)
        return False

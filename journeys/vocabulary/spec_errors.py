"""Journey spec validation errors as an author reads them, one line each, saying where:

    steps[2] (id 'nudge').timeout: must be longer than zero

pydantic's locations name the step kind it tried (('steps', 2, 'wait_for_event', 'timeout'));
an author thinks in step ids, so the location is rewritten with the id from the raw spec.
Shared by the CLI (spec files) and the API (`POST /v1/journeys`)."""

import re
from typing import Any

from pydantic_core import ErrorDetails

# Cross-step checks of JourneySpec report on the whole spec, naming the step in the message.
_STEP_MESSAGE = re.compile(r"^steps\[(\d+)\]((?:\.|\[)\S*): (.*)$", re.DOTALL)


def describe_error(error: ErrorDetails, raw: dict[str, Any]) -> list[str]:
    """`steps[2] (id 'nudge').timeout: reason` lines for one pydantic error on the spec `raw`
    (a whole-spec check reports several problems at once, joined by "; ")."""
    return [f"{where}: {reason}" if where else reason for where, reason in error_fields(error, raw)]


def error_fields(error: ErrorDetails, raw: dict[str, Any]) -> list[tuple[str, str]]:
    """`describe_error` as (where, reason) pairs, for an API that names each field apart: a
    field's own name may hold ": " (where is "" for a whole-spec problem naming no step)."""
    loc = list(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        return [_spec_problem(part, raw) for part in message.split("; ")]
    return [_describe(error, loc, message, raw)]


def _spec_problem(message: str, raw: dict[str, Any]) -> tuple[str, str]:
    if match := _STEP_MESSAGE.match(message):
        index, field, message = int(match[1]), match[2], match[3]
        return f"{_step_label(raw, index)}{field}", message
    return "", message


def _describe(
    error: ErrorDetails, loc: list[int | str], message: str, raw: dict[str, Any]
) -> tuple[str, str]:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "union_tag_invalid":
        loc.append("kind")
        message = f"{ctx.get('tag')!r} is not a step kind; use one of {ctx.get('expected_tags')}"
    elif kind == "union_tag_not_found":
        loc.append("kind")
        message = "Field required"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind not in ("missing", "value_error") and _scalar(error.get("input")):
        message = f"{message} (got {error['input']!r})"
    return _location(loc, raw), message


def _location(loc: list[int | str], raw: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        rest = loc[2:]
        step = _raw_step(raw, loc[1])
        # pydantic inserts the discriminator tag it chose; the author never wrote that level.
        if rest and isinstance(step, dict) and rest[0] == step.get("kind"):
            rest = rest[1:]
        return _step_label(raw, loc[1]) + _path(rest)
    return _path(loc).removeprefix(".")


def _step_label(raw: dict[str, Any], index: int) -> str:
    step = _raw_step(raw, index)
    step_id = step.get("id") if isinstance(step, dict) else None
    return f"steps[{index}] (id {step_id!r})" if isinstance(step_id, str) else f"steps[{index}]"


def _raw_step(raw: dict[str, Any], index: int) -> Any:
    steps = raw.get("steps")
    return steps[index] if isinstance(steps, list) and 0 <= index < len(steps) else None


def _path(parts: list[int | str]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)

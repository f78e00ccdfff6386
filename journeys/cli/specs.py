"""Reading journey spec files: every problem of every file at once, one line each, saying where.

    journeys/cart.yaml: steps[2] (id 'nudge').timeout: must be longer than zero

pydantic's locations name the step kind it tried (('steps', 2, 'wait_for_event', 'timeout'));
an author thinks in step ids, so the location is rewritten with the id from the raw YAML.
"""

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from journeys.channels.templates import Template, spec_template_problems
from journeys.config.settings import ConfigError
from journeys.data import TRACKING_PLAN
from journeys.vocabulary.journey_spec import JourneySpec, unrunnable_steps
from journeys.vocabulary.tracking_plan import TrackingPlan, plan_problems

SUFFIXES = (".yaml", ".yml")
PLAN_FILE = "tracking_plan.yaml"  # lives beside the journeys; not a journey itself
SHIPPED_PLAN = TRACKING_PLAN
# Cross-step checks of JourneySpec report on the whole spec, naming the step in the message.
_STEP_MESSAGE = re.compile(r"^steps\[(\d+)\]((?:\.|\[)\S*): (.*)$", re.DOTALL)


class SpecError(Exception):
    """Spec files that do not validate; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_tracking_plan(path: Path | None) -> TrackingPlan:
    """The plan in `path`, else the one shipped in `journeys/`."""
    path = path or SHIPPED_PLAN
    try:
        return TrackingPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as err:
        raise ConfigError(f"tracking plan {path}: {err}") from err


def load_spec_files(
    paths: Iterable[Path | str],
    plan: TrackingPlan | None = None,
    templates: "dict[str, Template] | None" = None,
) -> list[JourneySpec]:
    """The specs in `paths` (files, or directories of *.yaml / *.yml, sorted), all valid and,
    when a plan is given, naming only planned events and properties.

    Raises SpecError with every error found in any file, so one run shows all there is to fix.
    """
    errors: list[str] = []
    specs: list[JourneySpec] = []
    seen: dict[str, Path] = {}
    for path in _expand([Path(p) for p in paths], errors):
        spec = _load(path, errors)
        if spec is None:
            continue
        if spec.name in seen:
            errors.append(f"{path}: name: {spec.name!r} is also the name in {seen[spec.name]}")
            continue
        seen[spec.name] = path
        specs.append(spec)
        errors += [f"{path}: {problem}" for problem in unrunnable_steps(spec)]
        if plan is not None:
            errors += [f"{path}: {problem}" for problem in plan_problems(spec, plan)]
        if templates is not None:
            errors += [f"{path}: {p}" for p in spec_template_problems(spec, templates)]
    if errors:
        raise SpecError(errors)
    return specs


def _expand(paths: list[Path], errors: list[str]) -> list[Path]:
    """The files to read, each once (a file named and inside a named directory is one file)."""
    files: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix in SUFFIXES and p.is_file() and p.name != PLAN_FILE
            )
            if not found:
                errors.append(f"{path}: no {' or '.join(SUFFIXES)} files in this directory")
        elif path.exists():
            found = [path]
        else:
            errors.append(f"{path}: no such file or directory")
            found = []
        for file in found:
            files.setdefault(file.resolve(), file)
    return list(files.values())


def _load(path: Path, errors: list[str]) -> JourneySpec | None:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        errors.append(f"{path}: cannot read: {err}")
        return None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        reason = ", ".join(part for part in (err.context, err.problem) if part)
        errors.append(f"{where}: YAML: {reason}")
        return None
    except yaml.YAMLError as err:
        errors.append(f"{path}: YAML: {err}")
        return None
    if not isinstance(raw, dict):
        errors.append(f"{path}: expected a journey: a mapping with name, trigger and steps")
        return None
    try:
        return JourneySpec.model_validate(raw)
    except ValidationError as err:
        errors += [
            f"{path}: {line}" for error in err.errors() for line in describe_error(error, raw)
        ]
        return None


def describe_error(error: ErrorDetails, raw: dict[str, Any]) -> list[str]:
    """`steps[2] (id 'nudge').timeout: reason` lines for one pydantic error on the spec `raw`
    (a whole-spec check reports several problems at once, joined by "; ")."""
    loc = list(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        return [_spec_problem(part, raw) for part in message.split("; ")]
    return [_describe(error, loc, message, raw)]


def _spec_problem(message: str, raw: dict[str, Any]) -> str:
    if match := _STEP_MESSAGE.match(message):
        index, field, message = int(match[1]), match[2], match[3]
        return f"{_step_label(raw, index)}{field}: {message}"
    return message


def _describe(error: ErrorDetails, loc: list[int | str], message: str, raw: dict[str, Any]) -> str:
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
    where = _location(loc, raw)
    return f"{where}: {message}" if where else message


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

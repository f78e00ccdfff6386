"""Reading journey spec files: every problem of every file at once, one line each, saying where.

    journeys/cart.yaml: steps[2] (id 'nudge').timeout: must be longer than zero

The lines come from vocabulary/spec_errors.py; the tracking plan from config/tracking_plan.py.
"""

from collections.abc import Iterable
from pathlib import Path

import yaml
from pydantic import ValidationError

from journeys.channels.templates import Template, spec_template_problems
from journeys.vocabulary.journey_spec import JourneySpec, unrunnable_steps
from journeys.vocabulary.spec_errors import describe_error
from journeys.vocabulary.tracking_plan import TrackingPlan, plan_problems

SUFFIXES = (".yaml", ".yml")
PLAN_FILE = "tracking_plan.yaml"  # lives beside the journeys; not a journey itself


class SpecError(Exception):
    """Spec files that do not validate; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


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

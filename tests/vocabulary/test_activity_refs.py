"""The references workflows call activities by agree with the activities the worker runs:
the same names, one implementation each, the same input and result types."""

import importlib
import inspect
import pkgutil

from temporalio import activity

import journeys.activities
from journeys.vocabulary import activity_refs
from journeys.vocabulary.activity_refs import NoInput


def implementations() -> dict[str, list[activity._Definition]]:
    found: dict[str, list[activity._Definition]] = {}
    for info in pkgutil.iter_modules(journeys.activities.__path__):
        module = importlib.import_module(f"journeys.activities.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for _, method in inspect.getmembers(cls, inspect.isfunction):
                definition = activity._Definition.from_callable(method)
                if definition is not None:
                    found.setdefault(definition.name, []).append(definition)
    return found


def test_every_reference_has_one_implementation_with_its_types():
    found = implementations()
    problems = []
    for ref in activity_refs.ALL:
        defined = found.get(ref.name, [])
        if len(defined) != 1:
            problems.append(f"{ref.name}: {len(defined)} implementations")
            continue
        wanted_args = [] if ref.input_type is NoInput else [ref.input_type]
        if defined[0].arg_types != wanted_args:
            problems.append(f"{ref.name}: takes {defined[0].arg_types}, ref says {wanted_args}")
        if defined[0].ret_type != ref.result_type:
            problems.append(
                f"{ref.name}: returns {defined[0].ret_type}, ref says {ref.result_type}"
            )
    assert not problems, "\n".join(problems)


def test_every_activity_is_called_through_a_reference():
    referenced = {ref.name for ref in activity_refs.ALL}
    assert set(implementations()) == referenced

"""A popover form's answers checked against its questions (`templates.FormField`), and what
they become: traits (data capture), an answers event (survey), the basket email's request
(email my basket), and the subscription groups the visitor ticked. Pure: the API route stores
and sends what `read_answers` returns."""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from journeys.channels.templates import FormField

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{4,30}$")


@dataclass
class Answers:
    values: dict[str, Any] = field(default_factory=dict)  # question name -> clean answer
    consents: list[tuple[str, str]] = field(default_factory=list)  # (channel, topic) ticked
    problems: list[dict[str, str]] = field(default_factory=list)  # {"field", "reason"}


def read_answers(form: list[FormField], given: Any) -> Answers:
    """Every answer checked, each problem naming `answers.<question>`; unknown names refused."""
    out = Answers()
    if not isinstance(given, dict):
        out.problems.append({"field": "answers", "reason": "an object of question: answer"})
        return out
    questions = {q.name: q for q in form}
    for name in given:
        if name not in questions:
            known = ", ".join(questions)
            out.problems.append({"field": f"answers.{name}",
                                 "reason": f"not a question of this form ({known})"})  # fmt: skip
    for question in form:
        where = f"answers.{question.name}"
        value = given.get(question.name)
        if value is None or value == "" or (question.type == "consent" and value is False):
            if question.required:
                out.problems.append({"field": where, "reason": _required(question)})
            continue
        clean, reason = _check(question, value)
        if reason:
            out.problems.append({"field": where, "reason": reason})
        elif question.type == "consent":
            assert question.channel and question.topic  # FormField checks a consent box has both
            out.consents.append((question.channel, question.topic))
        else:
            out.values[question.name] = clean
    return out


def _required(question: FormField) -> str:
    return "must be ticked" if question.type == "consent" else "required"


def _check(question: FormField, value: Any) -> tuple[Any, str | None]:
    """The clean answer, or why it is refused."""
    kind = question.type
    if kind == "consent":
        return (True, None) if value is True else (None, "true or false")
    if kind in ("number", "rating"):
        return _number(question, value)
    if not isinstance(value, str):
        return None, "text"
    text = value.strip()
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return None, "contains control characters"
    if kind == "email":
        if len(text) > 254 or not EMAIL.match(text):
            return None, "not an email address"
        return text, None
    if kind == "phone":
        return (text, None) if PHONE.match(text) else (None, "not a phone number")
    if kind == "choice":
        assert question.choices is not None
        if text not in question.choices:
            return None, f"one of: {', '.join(question.choices)}"
        return text, None
    if len(text) > question.max_length:
        return None, f"at most {question.max_length} characters"
    return text, None


def _number(question: FormField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, "a number"
    if question.type == "rating" and not float(value).is_integer():
        return None, "a whole number"
    low, high = question.min, question.max
    if (low is not None and value < low) or (high is not None and value > high):
        span = (
            f"from {_plain(low)} to {_plain(high)}"
            if low is not None and high is not None
            else (f"at least {_plain(low)}" if low is not None else f"at most {_plain(high)}")
        )
        return None, span
    return (int(value) if question.type == "rating" else value), None


def _plain(number: float | None) -> str:
    return f"{number:g}"

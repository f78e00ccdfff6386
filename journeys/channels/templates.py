"""Message templates: one named message with content per channel, rendered by sandboxed Jinja2.

    cart_recovery_email:
      email: {subject: ..., text: ..., html: ...}
      push: {title: ..., body: ...}          # used when the send step falls back to push

A template may read only `traits`, `properties`, `products`, `customer_id` and `unsubscribe_url`
(StrictUndefined: a missing one is an error). Templates are checked when loaded, and a journey
naming an unknown template, or a channel the template has no content for, is refused at publish.
`render_context` builds what a template reads, the same way for sends, popovers and previews.
"""

import functools
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from journeys.channels.subscriptions import TOPICS_FILE, load_topics
from journeys.config.settings import ConfigError
from journeys.data import TEMPLATES
from journeys.vocabulary.journey_spec import JourneySpec, Send

VARIABLES = ("traits", "properties", "products", "customer_id", "unsubscribe_url")
SHIPPED = TEMPLATES

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
HTML_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


@functools.lru_cache(maxsize=1024)
def _compiled(text: str, html: bool) -> jinja2.Template:
    """A template field compiled once per process, not at every send (a compiled template
    renders in any thread)."""
    return (HTML_ENV if html else ENV).from_string(text)


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Email(_Content):
    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)
    html: str | None = None


class Sms(_Content):
    text: str = Field(min_length=1, max_length=1600)


class Push(_Content):
    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    deep_link: str | None = None


PopoverKind = Literal[
    "welcome", "cart_recovery", "exit_intent", "product_recommendation",
    "time_sensitive_offer", "retargeting", "email_my_basket", "data_capture", "survey",
]  # fmt: skip
FORM_KINDS = ("email_my_basket", "data_capture", "survey")  # the visitor submits answers
PRODUCT_KINDS = ("product_recommendation", "retargeting", "email_my_basket", "cart_recovery")
COMMON_FIELDS = ("title", "body", "cta", "url")
# Each kind's fields: those it needs, and those only it may have.
KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "welcome": (("title",), ()),
    "cart_recovery": (("title",), ()),
    "exit_intent": (("title",), ()),
    "product_recommendation": (("title",), ()),
    "time_sensitive_offer": (("title", "ends_at"), ("ends_at",)),
    "retargeting": (("title",), ()),
    "email_my_basket": (("title", "cta"), ("thanks",)),
    "data_capture": (("title", "cta"), ("thanks",)),
    "survey": (("title", "cta"), ("thanks",)),
}
FIELD_MEANING = {
    "ends_at": 'when the offer ends (ISO 8601, e.g. "{{ properties.ends_at }}"), for its '
    "countdown and its expiry",
    "cta": "the label of the button that sends the form",
    "title": "the heading",
}


RESERVED_ANSWERS = ("popover_id", "journey", "survey", "kind", "products")


class FormField(_Content):
    """One question of a data-capture, survey or email-my-basket form. `name` is the trait
    (data capture) or answer (survey) it fills; a `consent` box records the visitor joining
    the subscription group `channel`/`topic` when ticked."""

    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=300)
    type: Literal["email", "text", "phone", "number", "choice", "rating", "consent"]
    required: bool = False
    choices: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = None
    min: float | None = None  # number and rating (a rating is whole numbers, 1-5 by default)
    max: float | None = None
    max_length: int = Field(default=500, ge=1, le=5000)  # text
    channel: Literal["email", "sms", "push"] | None = None  # consent
    topic: str | None = None  # consent: a topic of topics.yaml, or "*" for all

    @model_validator(mode="after")
    def _by_type(self) -> "FormField":
        if self.name in RESERVED_ANSWERS:
            raise ValueError(f"name: {self.name!r} is what the answers event says itself")
        if (self.type == "choice") != (self.choices is not None):
            raise ValueError("choices: a choice question needs them, other types have none")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("choices: each choice once")
        if (self.type == "consent") != (self.channel is not None and self.topic is not None):
            raise ValueError("channel and topic: a consent box needs both, other types neither")
        if self.type == "rating" and (self.min, self.max) == (None, None):
            object.__setattr__(self, "min", 1.0)
            object.__setattr__(self, "max", 5.0)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min: above max")
        return self


class Popover(_Content):
    kind: PopoverKind
    fields: dict[str, str] = Field(min_length=1)
    # Display rule: page paths (globs, `*` spans `/`) where it may show; none: any page.
    pages: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    form: list[FormField] | None = Field(default=None, min_length=1, max_length=20)
    # overlay: a dialog over the page; fullscreen: the whole viewport (a long form on a phone)
    layout: Literal["overlay", "fullscreen"] | None = None  # None: overlay
    event: str | None = Field(default=None, min_length=1, max_length=200)  # answers_event

    @model_validator(mode="after")
    def _kind_fields(self) -> "Popover":
        """Publishing refuses a template whose fields do not fit its kind, before a visitor
        sees a popover without its button or a countdown to nothing."""
        needed, own = KIND_FIELDS[self.kind]
        problems = [
            f"a {self.kind} needs fields.{name}"
            + (f": {FIELD_MEANING[name]}" if name in FIELD_MEANING else "")
            for name in needed
            if name not in self.fields
        ]
        allowed = {*COMMON_FIELDS, *own}
        problems += [
            f"fields.{name} is not a field of a {self.kind} ({', '.join(sorted(allowed))})"
            for name in sorted(set(self.fields) - allowed)
        ]
        problems += self._form_problems()
        if self.event is not None and self.kind != "survey":
            problems.append("event: only a survey names the event its answers are sent as")
        if problems:
            raise ValueError(". ".join(problems))
        return self

    def _form_problems(self) -> list[str]:
        form = self.form or []
        if self.kind not in FORM_KINDS:
            return [f"a {self.kind} has no form"] if form else []
        if not form:
            return [f"a {self.kind} needs a form: the questions the visitor answers"]
        names = [f.name for f in form]
        twice = sorted({n for n in names if names.count(n) > 1})
        problems = [f"form: {n!r} asked twice" for n in twice]
        questions = [f for f in form if f.type != "consent"]
        if self.kind == "email_my_basket" and [f.type for f in questions] != ["email"]:
            problems.append("an email_my_basket form asks one email question (and may have "
                            "consent boxes)")  # fmt: skip
        elif not questions:
            problems.append(f"a {self.kind} form needs a question besides consent boxes")
        if self.kind == "email_my_basket" and not any(f.required for f in questions):
            problems.append("an email_my_basket form's email question is required")
        return problems

    @property
    def answers_event(self) -> str:
        """The track event a survey's answers are sent as."""
        return self.event or "Survey Answered"

    def shows_on(self, page: str | None) -> bool:
        """Whether it may show on this page; one that names pages waits for a page it names."""
        if self.pages is None:
            return True
        return page is not None and any(fnmatchcase(page, glob) for glob in self.pages)


class Webhook(_Content):
    body: str = Field(min_length=1)  # JSON, after rendering


class Template(_Content):
    topic: str | None = None  # the subscription topic (topics.yaml) a marketing message is about
    transactional: bool = False  # receipts and the like: no consent groups, no frequency caps
    email: Email | None = None
    sms: Sms | None = None
    push: Push | None = None
    popover: Popover | None = None
    webhook: Webhook | None = None

    def channels(self) -> list[str]:
        return [c for c in ("email", "sms", "push", "popover", "webhook") if getattr(self, c)]


def _strings(content: BaseModel) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in content:
        if isinstance(value, str):
            pairs.append((name, value))
        elif isinstance(value, dict):
            pairs += [(f"{name}.{k}", v) for k, v in value.items()]
    return pairs


def template_problems(name: str, template: Template) -> list[str]:
    """Syntax errors and variables outside VARIABLES, one line each, saying where."""
    problems = []
    if not template.channels():
        problems.append(f"{name}: no content for any channel")
    for channel in template.channels():
        for field, text in _strings(getattr(template, channel)):
            where = f"{name}.{channel}.{field}"
            try:
                names = meta.find_undeclared_variables(ENV.parse(text))
            except TemplateSyntaxError as err:
                problems.append(f"{where}: line {err.lineno}: {err.message}")
                continue
            problems += [
                f"{where}: unknown variable {n!r}; templates may use {', '.join(VARIABLES)}"
                for n in sorted(names - set(VARIABLES))
            ]
    return problems


def load_templates(folder: Path | None = None) -> dict[str, Template]:
    """Every template in the folder's YAML files; ConfigError lists every problem."""
    folder = folder or SHIPPED
    templates: dict[str, Template] = {}
    problems: list[str] = []
    topics = load_topics(folder)
    for path in sorted(folder.glob("*.y*ml")):
        if path.name == TOPICS_FILE:
            continue
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            problems.append(f"{path}: {err}")
            continue
        for name, body in raw.items():
            try:
                template = Template.model_validate(body)
            except ValidationError as err:
                problems += [f"{path}: {name}.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in err.errors()]  # fmt: skip
                continue
            if name in templates:
                problems.append(f"{path}: {name}: defined twice")
            templates[name] = template
            problems += [f"{path}: {p}" for p in template_problems(name, template)]
            known = ", ".join(sorted(topics)) or f"none: add {TOPICS_FILE}"
            if template.topic and template.topic not in topics:
                problems.append(f"{path}: {name}.topic: unknown topic {template.topic!r} ({known})")
            for i, box in enumerate(template.popover.form or [] if template.popover else []):
                if box.topic is not None and box.topic != "*" and box.topic not in topics:
                    problems.append(f"{path}: {name}.popover.form.{i}.topic: unknown topic "
                                    f"{box.topic!r} ({known}, or * for all)")  # fmt: skip
    if problems:
        raise ConfigError("invalid templates:\n" + "\n".join(problems))
    return templates


def spec_template_problems(spec: JourneySpec, templates: dict[str, Template]) -> list[str]:
    """A journey's send steps must name a template with content for the channel and fallback."""
    problems = []
    for i, step in enumerate(spec.steps):
        if not isinstance(step, Send):
            continue
        where = f"steps[{i}] (id {step.id!r}).template"
        template = templates.get(step.template)
        if template is None:
            problems.append(f"{where}: unknown template {step.template!r}")
            continue
        for channel in [step.channel, *([step.fallback] if step.fallback else [])]:
            if channel not in template.channels():
                problems.append(f"{where}: template {step.template!r} has no {channel} content")
    return problems


class RenderError(Exception):
    """Fields that do not render for a context, as (field, reason) pairs: a variable the context
    lacks (StrictUndefined), an operation the sandbox refuses, an error inside an expression."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))
        self.problems = problems


def render_context(
    *,
    customer_id: str,
    traits: dict[str, Any],
    properties: dict[str, Any] | None = None,
    products: list[Any] | None = None,
    unsubscribe_url: str = "",
) -> dict[str, Any]:
    """Everything a template may read (VARIABLES), for one customer and message."""
    return {
        "traits": traits,
        "properties": properties or {},
        "products": products or [],
        "customer_id": customer_id,
        "unsubscribe_url": unsubscribe_url,
    }


def render(template: Template, channel: str, context: dict[str, Any]) -> dict[str, Any]:
    """The channel's content with every field rendered (HTML autoescaped); RenderError names
    every field that fails, as `channel.field`."""
    content = getattr(template, channel)
    rendered: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []

    def one(field: str, text: str, html: bool) -> str:
        try:
            return _compiled(text, html).render(**context)
        except Exception as err:  # the template's own error, whatever Jinja or Python raised
            problems.append((f"{channel}.{field}", str(err) or type(err).__name__))
            return ""

    for name, value in content:
        if isinstance(value, str):
            rendered[name] = one(name, value, html=name == "html")
        elif isinstance(value, dict):
            rendered[name] = {k: one(f"{name}.{k}", v, html=False) for k, v in value.items()}
        else:
            rendered[name] = value
    if problems:
        raise RenderError(problems)
    return rendered

"""Template previews: a template rendered for a stored customer exactly as a send would render it
(the customer's traits, sample properties and products, the signed unsubscribe link), shared by
`GET /v1/templates/{name}/preview` and `journeys templates preview`."""

from typing import Any, Literal

from journeys.channels.consent import unsubscribe_url
from journeys.channels.templates import RenderError, Template, render, render_context

PreviewFailure = Literal["not_found", "invalid", "render"]


class PreviewError(Exception):
    """Why there is no preview: `not_found` (template or customer), `invalid` (a channel the
    template has no content for), `render` (fields that fail for this customer). `problems` are
    (field, reason) pairs; render problems name the field as `channel.field`."""

    def __init__(self, kind: PreviewFailure, message: str, problems: list[tuple[str, str]]):
        super().__init__(f"{message}: " + "; ".join(f"{f}: {r}" for f, r in problems))
        self.kind, self.message, self.problems = kind, message, problems


def preview(
    *,
    templates: dict[str, Template],
    name: str,
    customer_id: str,
    traits: dict[str, Any] | None,
    channel: str | None = None,
    properties: dict[str, Any] | None = None,
    products: list[Any] | None = None,
    public_url: str,
    signing_key: str | None,
) -> dict[str, dict[str, Any]]:
    """The rendered content by channel (`channel`, or every channel the template has), for the
    customer whose stored `traits` these are (None: no such customer)."""
    template = templates.get(name)
    if template is None:
        raise PreviewError(
            "not_found", f"no template {name!r}", [("name", "not in the templates folder")]
        )
    channels = template.channels()
    if channel is not None and channel not in channels:
        has = ", ".join(channels)
        raise PreviewError(
            "invalid",
            f"template {name!r} has no {channel} content",
            [("channel", f"template {name!r} has content for {has}")],
        )
    if traits is None:
        raise PreviewError(
            "not_found",
            f"no customer {customer_id!r}",
            [("customerId", "no profile with this id (identify the customer first)")],
        )
    rendered: dict[str, dict[str, Any]] = {}
    problems: list[tuple[str, str]] = []
    for each in [channel] if channel else channels:
        # Popovers are served without a link (GET /v1/popovers); every other channel has one.
        link = (
            ""
            if each == "popover"
            else unsubscribe_url(public_url, signing_key or "", customer_id, each, template.topic)
        )
        context = render_context(
            customer_id=customer_id,
            traits=traits,
            properties=properties,
            products=products,
            unsubscribe_url=link,
        )
        try:
            rendered[each] = render(template, each, context)
        except RenderError as err:
            problems += err.problems
    if problems:
        raise PreviewError(
            "render", f"template {name!r} does not render for customer {customer_id!r}", problems
        )
    return rendered

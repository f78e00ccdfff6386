"""Message templates (admin key): the loaded templates, and a preview of one rendered for a
stored customer (channels/previews.py), so a marketer sees what a send would say."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from journeys.api.deps import KeyFirstRoute, SettingsDep, StoreDep, TemplatesDep, require_admin
from journeys.api.errors import ApiError
from journeys.channels.previews import PreviewError, preview
from journeys.store.customers import customer_traits

STATUS = {"not_found": 404, "invalid": 400, "render": 422}

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/templates",
    dependencies=[Depends(require_admin)],
    tags=["templates"],
)


@router.get("", summary="the loaded templates with their channels")
async def listing(templates: TemplatesDep) -> list[dict[str, Any]]:
    return [
        {"name": name, "channels": template.channels(), "topic": template.topic}
        for name, template in sorted(templates.items())
    ]


@router.get("/{name}/preview", summary="a template rendered for a stored customer")
async def preview_route(
    name: str,
    customerId: Annotated[str, Query(min_length=1, max_length=300)],  # noqa: N803
    settings: SettingsDep,
    store: StoreDep,
    templates: TemplatesDep,
    channel: str | None = None,
    properties: Annotated[
        str | None, Query(description='sample event properties, a JSON object: {"value": 42}')
    ] = None,
    products: Annotated[
        str | None, Query(description='sample products, a JSON array: [{"name": "Boots"}]')
    ] = None,
) -> dict[str, Any]:
    """Every channel the template has, or `channel`; 422 names each field that does not
    render for this customer (a trait it reads without a default, say)."""
    sample_properties = _json_query("properties", properties, dict, "a JSON object")
    sample_products = _json_query("products", products, list, "a JSON array")
    try:
        channels = await store.run(
            lambda session: preview(
                templates=templates,
                name=name,
                customer_id=customerId,
                traits=customer_traits(session, customer_id=customerId),
                channel=channel,
                properties=sample_properties,
                products=sample_products,
                public_url=settings.public_url,
                signing_key=settings.signing_key,
            )  # fmt: skip
        )
    except PreviewError as err:
        errors = [{"field": field, "reason": reason} for field, reason in err.problems]
        raise ApiError(STATUS[err.kind], err.message, errors) from err
    return {"template": name, "customer_id": customerId, "channels": channels}


def _json_query(field: str, raw: str | None, kind: type, what: str) -> Any:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ApiError(400, "invalid request", [{"field": field, "reason": str(err)}]) from err
    if not isinstance(value, kind):
        raise ApiError(400, "invalid request", [{"field": field, "reason": f"must be {what}"}])
    return value

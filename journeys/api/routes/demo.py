"""`GET /demo`: the demo shop page that `journeys up` serves with its demo (JOURNEYS_DEMO_PAGE),
where a new user sees each of the nine popover kinds come through a journey and the website
snippet. Off (404) everywhere else: it carries the first write key, public as it is by design."""

import json
from functools import cache

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from journeys.api.deps import SettingsDep, StoreDep
from journeys.api.errors import ApiError
from journeys.data import DEMO
from journeys.store.recommendations import catalogue_ids, products

router = APIRouter(tags=["demo"])


@cache
def _page() -> str:
    return (DEMO / "shop.html").read_text(encoding="utf-8")


@router.get("/demo", include_in_schema=False, response_class=HTMLResponse)
async def demo_shop(settings: SettingsDep, store: StoreDep) -> HTMLResponse:
    if not settings.demo_page or not settings.write_keys:
        raise ApiError(404, "no demo page here (journeys up serves one with its demo)")

    def shelf(session: Session) -> list[dict[str, object]]:
        found = products(session, product_ids=catalogue_ids(session, limit=12))
        return [{"product_id": p.product_id, "name": p.name, "price": p.price}
                for p in sorted(found.values(), key=lambda p: p.product_id)]  # fmt: skip

    listed = json.dumps(await store.run(shelf)).replace("</", "<\\/")  # inside <script>
    page = _page().replace("__WRITE_KEY__", settings.write_keys[0].replace('"', "&quot;"))
    return HTMLResponse(page.replace("__PRODUCTS__", listed))

"""Experiment endpoints: admin key, 404 for an unknown journey, version or step, 400 for an
unknown variant, 409 when there is nothing to revert, and the promote/revert cycle."""

from typing import Any

import httpx
import pytest

from journeys.config.settings import Settings
from tests.helpers.api import ADMIN
from tests.helpers.experiments import experiment_spec, publish, record_runs, weights

BASE = "/v1/journeys/offer_test/experiments"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", BASE, None),
        ("POST", f"{BASE}/split/promote", {"variant": "b"}),
        ("POST", f"{BASE}/split/revert", None),
    ],  # fmt: skip
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_every_experiment_endpoint_needs_the_admin_key(
    http: httpx.AsyncClient, settings: Settings, method: str, path: str, body: Any,
    headers: dict[str, str],
) -> None:  # fmt: skip
    publish(settings.database_url, experiment_spec())
    r = await http.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert weights(settings.database_url) == {"a": 1, "b": 1}  # nothing changed


async def test_unknown_journey_version_step_and_variant(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    publish(settings.database_url, experiment_spec())
    missing = [
        ("GET", "/v1/journeys/nope/experiments", None),
        ("GET", f"{BASE}?version=7", None),
        ("POST", "/v1/journeys/nope/experiments/split/promote", {"variant": "b"}),
        ("POST", f"{BASE}/pause/promote", {"variant": "b"}),
        ("POST", f"{BASE}/nope/revert", None),
    ]
    for method, path, body in missing:
        r = await http.request(method, path, json=body, headers=ADMIN)
        assert r.status_code == 404, (path, r.text)
    r = await http.post(f"{BASE}/split/promote", json={"variant": "c"}, headers=ADMIN)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "variant"
    assert "no variant 'c'" in r.json()["errors"][0]["reason"]
    r = await http.post(f"{BASE}/split/promote", json={}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "variant"
    r = await http.post(f"{BASE}/split/revert", headers=ADMIN)
    assert r.status_code == 409 and "no promotion" in r.json()["error"]
    assert weights(settings.database_url) == {"a": 1, "b": 1}


async def test_results_manual_promotion_and_revert(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    url = settings.database_url
    publish(url, experiment_spec())
    record_runs(url, "a", exposed=50, converted=5)
    record_runs(url, "b", exposed=50, converted=20)
    r = await http.get(BASE, headers=ADMIN)
    assert r.status_code == 200
    (result,) = r.json()["experiments"]
    assert result["step"] == "split" and result["best"] == "b"
    assert [(v["name"], v["exposures"], v["conversions"]) for v in result["variants"]] == [
        ("a", 50, 5),
        ("b", 50, 20),
    ]
    assert result["p_value"] < 0.01 and result["sample_ratio_mismatch"] is False
    assert r.json()["promotions"] == []

    r = await http.post(f"{BASE}/split/promote", json={"variant": "b"}, headers=ADMIN)
    assert r.status_code == 200, r.text
    made = r.json()
    assert (made["winner"], made["from_version"], made["to_version"], made["manual"]) == (
        "b", 1, 2, True)  # fmt: skip
    assert made["probability_best"] > 0.99 and made["exposures"] == {"a": 50, "b": 50}
    assert weights(url) == {"a": 0, "b": 1}
    again = await http.post(f"{BASE}/split/promote", json={"variant": "b"}, headers=ADMIN)
    assert again.status_code == 409

    r = await http.post(f"{BASE}/split/revert", headers=ADMIN)
    assert r.status_code == 200
    assert r.json()["reverted_version"] == 3 and r.json()["reverted_at"]
    assert weights(url) == {"a": 1, "b": 1}
    shown = (await http.get(BASE, headers=ADMIN)).json()
    assert [(p["winner"], p["reverted_version"]) for p in shown["promotions"]] == [("b", 3)]
    assert shown["experiments"][0]["versions"] == [1, 2, 3]
    only_v1 = (await http.get(f"{BASE}?version=1", headers=ADMIN)).json()
    assert only_v1["experiments"][0]["versions"] == [1]
    assert (await http.post(f"{BASE}/split/revert", headers=ADMIN)).status_code == 409

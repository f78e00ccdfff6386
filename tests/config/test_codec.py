"""Encrypted workflow payloads (JOURNEYS_PAYLOAD_KEY): the customer's email never reaches the
Temporal server in the clear, the workflows run as usual, keys rotate, histories written before
encryption still read, and the codec endpoint shows an operator with the key what is inside."""

import base64
import os
import uuid

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.cli.codec_server import app as codec_app
from journeys.client import deliver
from journeys.config.codec import EncryptionCodec, parse_keys
from journeys.config.settings import Settings
from journeys.config.temporal import data_converter
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.temporal import wait_for

EMAIL = "ann.private@example.test"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_keys_rotate_and_clear_payloads_pass_through() -> None:
    old, new = new_key(), new_key()
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email": "x"}')
    [sealed] = await EncryptionCodec(parse_keys(old)).encode([plain])
    assert b"email" not in sealed.data
    rotated = EncryptionCodec(parse_keys(f"{new},{old}"))  # new first: encrypt with it
    assert await rotated.decode([sealed, plain]) == [plain, plain]
    with pytest.raises(ValueError, match="unknown key"):
        await EncryptionCodec(parse_keys(new)).decode([sealed])
    with pytest.raises(ValueError, match="32 bytes"):
        parse_keys(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="payload_key"):
        Settings(payload_key="not base64!")


async def test_histories_hold_no_personal_data_in_the_clear(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    key = new_key()
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, payload_key=key,
                        admin_key="admin-key")  # fmt: skip
    plain_client = skipping_env.client
    client = Client(plain_client.service_client, namespace=plain_client.namespace,
                    data_converter=data_converter(settings))  # fmt: skip
    cid = f"c-{uuid.uuid4()}"
    identify = CustomerEvent(message_id=str(uuid.uuid4()), type="identify",
                             timestamp="2026-11-01T00:00:00Z", traits={"email": EMAIL})  # fmt: skip
    async with build_worker(client, settings):
        await deliver(client, task_queue=task_queue, customer_id=cid, events=[identify])
        state = await wait_for(client, cid, lambda s: s.events_total == 1)
    assert state.customer_id == cid  # the workflow ran and answers through the codec
    history = await plain_client.get_workflow_handle(customer_workflow_id(cid)).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert EMAIL.encode() not in raw and b"binary/encrypted" in raw

    # the operator's codec endpoint: behind the admin key in the API, open on loopback locally
    signal = next(
        e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
    )
    body = json_format.MessageToJson(signal.workflow_execution_signaled_event_attributes.input)
    api = create_app(settings, client=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://a") as c:
        assert (await c.post("/codec/decode", content=body)).status_code == 401
        r = await c.post("/codec/decode", content=body,
                         headers={"Authorization": "Bearer admin-key"})  # fmt: skip
    decoded = json_format.ParseDict(r.json(), Payloads())
    assert EMAIL.encode() in decoded.payloads[0].data
    local = codec_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=local), base_url="http://a"
    ) as c:
        origin = {"Origin": "http://localhost:8233"}
        pre = await c.options("/codec/decode", headers=origin)
        r = await c.post("/codec/decode", content=body, headers=origin)
        bad = await c.post("/codec/decode", content=b"{nope", headers=origin)
    assert pre.headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
    assert r.status_code == 200 and EMAIL.encode() in base64.b64decode(
        r.json()["payloads"][0]["data"]
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "payloads"

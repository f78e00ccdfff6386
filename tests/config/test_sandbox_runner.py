"""The worker's sandbox runner: our payloads skip the sandbox's per-payload context lookups,
but a codec that reads the serialization context still gets each command's own."""

import base64
import dataclasses
import os
import uuid
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from journeys.client import deliver
from journeys.config.codec import EncryptionCodec, parse_keys
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.vocabulary.customer_types import CustomerState
from journeys.vocabulary.events import CustomerEvent
from journeys.worker.main import build_worker
from journeys.worker.runner import context_free, runner, sandbox_runner
from tests.helpers.temporal import wait_for


class ContextKeyedCodec(PayloadCodec, WithSerializationContext):
    """Like a codec with a key per activity type: a payload encoded for one activity reads only
    in that activity's context, so a workflow that encoded an activity's input in its own
    context would fail that activity."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.key = _key(context)

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            payload.metadata["context-key"] = self.key.encode()
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            key = payload.metadata["context-key"].decode()
            if key.startswith("activity:") and key != self.key:
                raise ValueError(f"encoded for {key}, read as {self.key}")
        return list(payloads)


def _key(context: SerializationContext | None) -> str:
    if isinstance(context, ActivitySerializationContext):
        return f"activity:{context.activity_type}"
    return "workflow"


def test_only_converters_that_ignore_the_context_skip_the_lookup() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    encrypted = dataclasses.replace(DATA_CONVERTER, payload_codec=EncryptionCodec(parse_keys(key)))
    reading = dataclasses.replace(DATA_CONVERTER, payload_codec=ContextKeyedCodec())
    assert context_free(DATA_CONVERTER) and context_free(encrypted)
    assert not context_free(reading)
    assert not isinstance(sandbox_runner(DATA_CONVERTER), SandboxedWorkflowRunner)
    assert isinstance(sandbox_runner(reading), SandboxedWorkflowRunner)


async def one_identify(client: Client, settings: Settings) -> CustomerState:
    """A new customer's first event, applied by a worker built with `settings`."""
    cid = f"c-{uuid.uuid4()}"
    identify = CustomerEvent(message_id=str(uuid.uuid4()), type="identify",
                             timestamp="2026-11-01T00:00:00Z", traits={"plan": "pro"})  # fmt: skip
    async with build_worker(client, settings):
        await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[identify])
        return await wait_for(client, cid, lambda s: s.events_total == 1)


async def test_a_codec_keyed_by_context_runs_a_customer(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    plain = skipping_env.client
    converter = dataclasses.replace(DATA_CONVERTER, payload_codec=ContextKeyedCodec())
    client = Client(plain.service_client, namespace=plain.namespace, data_converter=converter)
    settings = Settings(database_url=sqlite_url, task_queue=task_queue)
    state = await one_identify(client, settings)
    assert state.stage  # its first activity read its input: the workflow used its context


async def test_without_the_sandbox_a_customer_runs_the_same(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    """`JOURNEYS_WORKFLOW_SANDBOX=false`: the same workflows, not re-imported for each one."""
    client = skipping_env.client
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, workflow_sandbox=False)
    assert isinstance(runner(settings, DATA_CONVERTER), UnsandboxedWorkflowRunner)
    assert not isinstance(runner(settings.model_copy(update={"workflow_sandbox": True}),
                                 DATA_CONVERTER), UnsandboxedWorkflowRunner)  # fmt: skip
    state = await one_identify(client, settings)
    assert state.stage == "awareness"

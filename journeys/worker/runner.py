"""The workflow sandbox, without a cost our payloads do not need.

The SDK asks each workflow, for every payload list of every activation and completion, which
serialization context (and external-store context) applies. In the sandbox each question is a
fresh `exec` of a code string inside the sandbox: about a seventh of a busy worker's time under
the GIL (bench/journeys.py, profiled with py-spy). The answer matters only to a payload codec
or converter that reads a context, or to an external payload store; ours (pydantic JSON,
optionally `EncryptionCodec`) read none and no store is configured. So the instances this
runner creates answer those two questions outside the sandbox with the workflow's own context,
and everything else — the reloaded workflow modules, the restricted standard library, each
activation — stays in the sandbox.
"""

from collections.abc import Sequence
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WorkflowSerializationContext,
)
from temporalio.worker import (
    UnsandboxedWorkflowRunner,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import Info, _Definition

from journeys.config.settings import Settings


def context_free(converter: DataConverter) -> bool:
    """No part of `converter` reads a serialization context (given one, each part stays the
    same object), and no external store is set."""
    probe = converter.with_context(
        ActivitySerializationContext(
            namespace="probe",
            workflow_id="probe",
            workflow_type="probe",
            activity_type="probe",
            activity_id="probe",
            activity_task_queue="probe",
            is_local=False,
        )
    )
    parts = ("payload_converter", "payload_codec", "failure_converter")
    same = all(getattr(probe, part) is getattr(converter, part) for part in parts)
    return same and not converter.external_storage


def runner(settings: Settings, converter: DataConverter) -> WorkflowRunner:
    """The sandbox, unless `JOURNEYS_WORKFLOW_SANDBOX=false` leaves it out."""
    return sandbox_runner(converter) if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


def sandbox_runner(converter: DataConverter) -> WorkflowRunner:
    """The sandbox; for a context-free converter, one that answers context questions outside."""
    sandbox = SandboxedWorkflowRunner()
    return _WorkflowContextRunner(sandbox) if context_free(converter) else sandbox


class _WorkflowContextRunner(WorkflowRunner):
    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner

    def prepare_workflow(self, defn: _Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _WorkflowContextInstance(self.inner.create_instance(det))

    def set_worker_level_failure_exception_types(
        self, types: Sequence[type[BaseException]]
    ) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


class _WorkflowContextInstance(WorkflowInstance):
    """The sandboxed instance, but the workflow's own context for every payload."""

    def __init__(self, inner: WorkflowInstance) -> None:
        self.inner = inner
        info = inner.get_info()
        self.serialization = WorkflowSerializationContext(
            namespace=info.namespace, workflow_id=info.workflow_id
        )
        self.store = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id,
                run_id=info.run_id,
                type=info.workflow_type,
                namespace=info.namespace,
            )
        )

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self.inner.activate(act)

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return self.serialization

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return self.store

    def get_info(self) -> Info:
        return self.inner.get_info()

    def get_thread_id(self) -> int | None:
        return self.inner.get_thread_id()

    def __getattr__(self, name: str) -> Any:  # anything a later SDK adds
        return getattr(self.inner, name)

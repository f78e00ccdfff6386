"""Worker Versioning on the local dev server: a deploy of a new build while customers are in
flight. Customers are PINNED to the build they run on; once an operator makes the new build
current (`temporal worker deployment set-current-version`, the real CLI), a customer moves to
it at its next continue-as-new — prompted by its next event, or by the `upgrade` nudge for a
quiet one — and keeps everything it knew."""

import asyncio
import subprocess
import uuid
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.devserver import find_binary
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.deployment import become_current_if_first, deployment_config
from journeys.worker.main import WORKFLOWS, build_worker
from journeys.workflows.versioned import VERSIONED_WORKFLOWS
from tests.helpers.events import track
from tests.helpers.temporal import wait_for


async def pinned_to(client: Client, customer_id: str) -> tuple[str, str, VersioningBehavior]:
    """(run id, build id, behaviour) of the customer's current run."""
    described = await client.get_workflow_handle(customer_workflow_id(customer_id)).describe()
    info = described.raw_description.workflow_execution_info
    versioning = info.versioning_info
    return (
        info.execution.run_id,
        versioning.deployment_version.build_id,
        VersioningBehavior(versioning.behavior),
    )


async def routing_propagated(client: Client, deployment: str, build: str) -> None:
    """Wait until `build` is current and the change has reached the task queues."""
    request = DescribeWorkerDeploymentRequest(
        namespace=client.namespace, deployment_name=deployment
    )
    for _ in range(100):
        try:
            described = await client.workflow_service.describe_worker_deployment(request)
        except RPCError:  # the deployment's workflow is busy applying the change
            await asyncio.sleep(0.2)
            continue
        state = described.worker_deployment_info.routing_config_update_state
        current = described.worker_deployment_info.routing_config.current_deployment_version
        done = state == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
        if done and current.build_id == build:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{deployment}: {build} never became current everywhere")


async def eventually_on(client: Client, customer_id: str, build: str) -> tuple[str, str, Any]:
    for _ in range(100):
        found = await pinned_to(client, customer_id)
        if found[1] == build:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{customer_id} still on {found[1]}, not {build}")


@pytest.mark.slow
async def test_a_new_build_takes_over_customers_at_continue_as_new(
    dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    client = dev_env.client
    deployment = f"journeys-{uuid.uuid4().hex[:8]}"
    v1 = Settings(
        database_url=sqlite_url, task_queue=task_queue, worker_deployment=deployment, build_id="b1"
    )
    v2 = v1.model_copy(update={"build_id": "b2"})
    active, quiet = f"a-{uuid.uuid4()}", f"q-{uuid.uuid4()}"

    async with build_worker(client, v1):
        first = deployment_config(v1)
        assert first is not None
        assert await become_current_if_first(client, first.version)  # the very first deploy
        for customer in (active, quiet):
            await deliver(client, task_queue=task_queue, customer_id=customer,
                          events=[track("Product Viewed")])  # fmt: skip
            await wait_for(client, customer, lambda s: s.events_total == 1)
        run, build, behaviour = await pinned_to(client, active)
        quiet_run = (await pinned_to(client, quiet))[0]
        assert (build, behaviour) == ("b1", VersioningBehavior.PINNED)

        async with build_worker(client, v2):
            second = deployment_config(v2)
            assert second is not None
            assert not await become_current_if_first(client, second.version)  # b1 stays current
            await deliver(client, task_queue=task_queue, customer_id=active,
                          events=[track("Product Viewed")])  # fmt: skip
            await wait_for(client, active, lambda s: s.events_total == 2)
            assert (await pinned_to(client, active))[:2] == (run, "b1")  # no upgrade yet

            address = client.service_client.config.target_host
            deploy = subprocess.run(
                [find_binary("temporal"), "worker", "deployment", "set-current-version",
                 "--address", address, "--deployment-name", deployment, "--build-id", "b2",
                 "--yes"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert deploy.returncode == 0, deploy.stderr
            # the new routing reaches the task queues asynchronously
            await routing_propagated(client, deployment, "b2")

            # the active customer's next event: applied on b1, then continue-as-new onto b2
            await deliver(client, task_queue=task_queue, customer_id=active,
                          events=[track("Checkout Started")])  # fmt: skip
            new_run, _, behaviour = await eventually_on(client, active, "b2")
            assert new_run != run and behaviour == VersioningBehavior.PINNED
            state = await wait_for(client, active, lambda s: s.events_total == 3)
            assert state.event_counts.get("Checkout Started") == 1

            # a quiet customer moves when nudged, as an operator would for everyone still on b1
            query = (
                'WorkflowType="CustomerWorkflow" AND ExecutionStatus="Running" AND '
                f'TemporalWorkerDeploymentVersion="{deployment}:b1"'
            )
            for _ in range(50):  # visibility is eventually consistent
                still = [w.id async for w in client.list_workflows(query)]
                if still == [customer_workflow_id(quiet)]:
                    break
                await asyncio.sleep(0.2)
            assert still == [customer_workflow_id(quiet)]
            nudge = subprocess.run(
                [find_binary("temporal"), "workflow", "signal", "--address", address,
                 "--query", query, "--name", "upgrade", "--yes"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert nudge.returncode == 0, nudge.stderr
            await eventually_on(client, quiet, "b2")
            state = await wait_for(client, quiet, lambda s: s.events_total == 1)
            await deliver(client, task_queue=task_queue, customer_id=quiet,
                          events=[track("Product Viewed")])  # fmt: skip
            await wait_for(client, quiet, lambda s: s.events_total == 2)

        # the b1 runs that moved replay on this code (the flag is in their histories), with the
        # versioned classes or the plain ones `journeys replay` uses
        for customer, b1_run in ((active, run), (quiet, quiet_run)):
            handle = client.get_workflow_handle(customer_workflow_id(customer), run_id=b1_run)
            history = await handle.fetch_history()
            for classes in (WORKFLOWS, VERSIONED_WORKFLOWS):
                replayer = Replayer(workflows=list(classes), data_converter=DATA_CONVERTER)
                await replayer.replay_workflow(history)


def test_a_versioned_worker_registers_every_workflow_type_with_a_behaviour() -> None:
    """The versioned registrations cover exactly the workflow types the product runs."""
    names = [workflow._Definition.must_from_class(cls).name for cls in WORKFLOWS]
    for cls in VERSIONED_WORKFLOWS:
        defn = workflow._Definition.must_from_class(cls)
        assert defn.versioning_behavior != VersioningBehavior.UNSPECIFIED, defn.name
    assert [workflow._Definition.must_from_class(c).name for c in VERSIONED_WORKFLOWS] == names

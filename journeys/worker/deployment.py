"""Worker Versioning: which Worker Deployment Version this worker runs, and the first deploy.

Each workflow type declares its versioning behaviour in `@workflow.defn` (docs/versioning.md says
which and why); the worker only names its deployment and build. Later builds become current
when an operator says so (`temporal worker deployment set-current-version`), never by themselves.
"""

import asyncio
import hashlib
from functools import cache
from importlib.resources import files
from pathlib import Path

import structlog
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from journeys.config.settings import Settings

log = structlog.get_logger()


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """The worker's deployment version, or None for an unversioned worker."""
    if not settings.worker_deployment:
        return None
    version = WorkerDeploymentVersion(
        deployment_name=settings.worker_deployment,
        build_id=settings.build_id or code_build_id(),
    )
    return WorkerDeploymentConfig(version=version, use_worker_versioning=True)


@cache  # once per process: every worker of the group, and the first-deploy check, agree
def code_build_id() -> str:
    """A build id that changes exactly when the code a pinned run executes changes: a hash of
    the workflow and activity sources. Deploys should still name their build (a git sha)."""
    root = Path(str(files("journeys")))
    digest = hashlib.sha256()
    for package in ("vocabulary", "workflows", "activities"):
        for source in sorted((root / package).rglob("*.py")):
            digest.update(source.relative_to(root).as_posix().encode())
            digest.update(source.read_bytes())
    return f"code-{digest.hexdigest()[:12]}"


async def current_build(client: Client, deployment: str) -> tuple[str | None, bytes]:
    """The build id of the deployment's Current Version (None: none yet) and the conflict token
    that makes a change conditional on it."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None, b""
        raise
    current = described.worker_deployment_info.routing_config.current_deployment_version
    return current.build_id or None, described.conflict_token


async def become_current_if_first(
    client: Client, version: WorkerDeploymentVersion, wait: float = 30.0
) -> bool:
    """On the deployment's very first deploy, make this build current: with no Current Version
    new workflows would wait for an unversioned worker that never comes. True when it did."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        # the server knows the version once this worker has polled; the token loses a race; the
        # deployment's own workflow can be busy (a describe is then cancelled): try again
        try:
            build, token = await current_build(client, version.deployment_name)
            if build is not None:
                return False
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=version.deployment_name,
                    build_id=version.build_id,
                    conflict_token=token,
                    identity=client.identity,
                )
            )
        except RPCError as err:
            if loop.time() > deadline:
                raise
            log.debug("deployment_version_not_ready", error=str(err))
            await asyncio.sleep(0.5)
            continue
        log.info(
            "deployment_version_current",
            deployment=version.deployment_name,
            build_id=version.build_id,
            reason="first deploy",
        )
        return True

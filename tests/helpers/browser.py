"""Headless Chromium (Debian's `chromium`) for the page tests: the DOM after the page's scripts
ran, what each chart drew, and a screenshot of each page for review (in
`$JOURNEYS_SCREENSHOTS`, by default build/screenshots/ of the checkout). Every host but this
machine is unresolvable, so a page that needs anything from outside shows it."""

import base64
import contextlib
import html
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
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


# Every launch: no sandbox or GPU in a container, nothing fetched for Chromium itself, and every
# host but this machine unresolvable, so a page that needs anything from outside shows it.
HEADLESS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]  # fmt: skip


def run_chromium(
    address: str, profile: Path, *extra: str, budget_ms: int = 5000
) -> subprocess.CompletedProcess[str]:
    """Chromium on `address` (http://user:key@host/... passes Basic credentials for a top-level
    navigation; file:// opens a file), with `budget_ms` of virtual time for the scripts.

    A headless Chromium now and then never exits on a loaded machine (it once held a CI run for
    its whole two minutes), so each try gets a minute and its own process group, killed whole
    when it overruns, and a second try with a fresh profile follows; no D-Bus is looked for."""
    command = [chromium(), *HEADLESS, f"--virtual-time-budget={budget_ms}", *extra, address]
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


def open_page(page: str, tmp_path: Path, name: str, *flags: str, budget_ms: int = 5000) -> Drawn:
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


class DevTools:
    """Headless Chromium driven through the DevTools protocol on a pipe
    (`--remote-debugging-pipe`: no port, no WebSocket library): navigate, run scripts, move the
    real pointer and press real keys, and take screenshots. A context manager that leaves no
    browser process behind."""

    def __init__(self, profile: Path, *flags: str, width: int = 1280, height: int = 900) -> None:
        commands_read, self._commands = os.pipe()  # we write, Chromium reads its fd 3
        self._replies, replies_write = os.pipe()  # Chromium writes its fd 4, we read

        def as_fds_3_and_4() -> None:
            ours = os.dup(commands_read), os.dup(replies_write)  # out of the way of 3 and 4
            os.dup2(ours[0], 3)
            os.dup2(ours[1], 4)

        self.process = subprocess.Popen(
            [chromium(), *HEADLESS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", *flags, "about:blank"],
            preexec_fn=as_fds_3_and_4, close_fds=False, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
        )  # fmt: skip
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._last_id = 0
        self.session = ""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def __enter__(self) -> "DevTools":
        return self

    def __exit__(self, *_: object) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.session = ""
            self.call("Browser.close", timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        os.close(self._commands)
        os.close(self._replies)

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """One protocol command, in the page's session once attached; its result."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
                chunk = os.read(self._replies, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:  # events in between are not needed here
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def open(self, address: str) -> None:
        """Navigate and wait for the load event."""
        self.call("Page.navigate", url=address)
        self.wait_for("document.readyState === 'complete'")

    def run(self, expression: str) -> Any:
        """The expression's value (a promise is awaited); a script error fails the test."""
        done = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                         returnByValue=True)  # fmt: skip
        if "exceptionDetails" in done:
            details = done["exceptionDetails"]
            raise AssertionError(details.get("exception", {}).get("description") or details)
        return done["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        """Poll until the expression is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def move(self, x: float, y: float) -> None:
        """The real pointer to (x, y) of the viewport; a negative y is above the page."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)  # fmt: skip

    def press(self, key: str) -> None:
        """A real key press: Escape, Tab, Enter."""
        codes = {"Escape": 27, "Tab": 9, "Enter": 13}
        text = {"Enter": "\r"}.get(key)  # a key that types something submits a form
        self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key,
                  windowsVirtualKeyCode=codes[key], **({"text": text} if text else {}))  # fmt: skip
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key,
                  windowsVirtualKeyCode=codes[key])  # fmt: skip

    def type(self, text: str) -> None:
        """Text typed into the focused control."""
        self.call("Input.insertText", text=text)

    def screenshot(self, name: str) -> Path:
        """The viewport as `name`.png among the review screenshots."""
        folder = Path(os.environ.get("JOURNEYS_SCREENSHOTS") or SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        shot = self.call("Page.captureScreenshot", format="png")
        path = folder / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

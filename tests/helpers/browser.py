"""Headless Chromium (Debian's `chromium`) for the page tests: the DOM after the page's scripts
ran, or a screenshot."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI must run the browser test, but chromium is not installed", pytrace=False)
    pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


def run_chromium(address: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Chromium on `address` (http://user:key@host/... passes Basic credentials for a top-level
    navigation; file:// opens a file), with five seconds of virtual time for the scripts."""
    command = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        "--virtual-time-budget=5000", *extra, address,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

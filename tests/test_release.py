"""The version a user sees — `journeys --version`, the API's OpenAPI document — is the one
pyproject.toml releases, and CHANGELOG.md says what that release is."""

import re
import tomllib
from pathlib import Path

import pytest

from journeys.api.app import create_app
from journeys.cli.main import main
from journeys.config.settings import Settings

ROOT = Path(__file__).parents[1]
RELEASED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_journeys_version_prints_the_released_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"journeys {RELEASED}"


def test_the_api_document_carries_the_released_version(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url), client=object())  # type: ignore[arg-type]
    assert app.openapi()["info"]["version"] == RELEASED


def test_the_changelog_opens_with_the_released_version() -> None:
    """After what is not released yet, if anything (`## Unreleased`, as Keep a Changelog)."""
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    if headings[:1] == ["Unreleased"]:
        headings = headings[1:]
    assert headings and headings[0] == RELEASED

"""docs/settings.md is generated from the Settings fields; these tests keep it so."""

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from journeys.config import docs
from journeys.config.settings import Settings


def test_the_settings_page_matches_the_settings():
    assert docs.PAGE.read_text() == docs.render(), (
        f"docs/settings.md is out of date with journeys/config/settings.py: run `{docs.COMMAND}`"
    )


def test_every_setting_has_a_description():
    assert docs.undocumented() == [], (
        "give these Settings fields a `description=` (it is their documentation), then run"
        f" `{docs.COMMAND}`"
    )


def test_every_setting_is_on_the_page():
    page = docs.render()
    for name in Settings.model_fields:
        assert f"`JOURNEYS_{name.upper()}`" in page


def test_nested_models_get_their_own_section():
    class Retry(BaseModel):
        attempts: int = Field(default=3, description="tries before giving up")

    class Nested(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="APP_", env_nested_delimiter="__")
        name: str = Field(default="x", description="a name")
        retry: Retry = Field(default_factory=Retry, description="how to retry")

    page = docs.render(Nested)
    assert "| `APP_NAME` | str | `x` | a name |" in page
    assert "## `APP_RETRY__*`" in page
    assert "| `APP_RETRY__ATTEMPTS` | int | `3` | tries before giving up |" in page
    assert docs.undocumented(Nested) == []

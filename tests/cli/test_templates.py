"""Message templates: checked when loaded, and journeys may name only templates that exist."""

from pathlib import Path

import pytest

from channels.templates import load_templates, render
from config.settings import ConfigError


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.yaml").write_text(text)
    return folder


def test_the_shipped_templates_render_for_a_customer_without_traits() -> None:
    templates = load_templates()
    context = {"traits": {}, "properties": {}, "products": [], "customer_id": "c1",
               "unsubscribe_url": "https://example.test/u"}  # fmt: skip
    for name, template in templates.items():
        for channel in template.channels():
            assert render(template, channel, context), (name, channel)


def test_an_unknown_variable_or_bad_syntax_is_refused_with_where(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "templates",
        """
promo:
  email:
    subject: "Hi {{ first_name }}"
    text: "{% if traits.vip %}VIP"
""",
    )
    with pytest.raises(ConfigError) as err:
        load_templates(folder)
    message = str(err.value)
    assert "promo.email.subject: unknown variable 'first_name'" in message
    assert "promo.email.text: line 1:" in message


def test_html_is_escaped_and_text_is_not() -> None:
    template = load_templates()["welcome_email"]
    context = {"traits": {"first_name": "<b>Ann</b>"}, "properties": {}, "products": [],
               "customer_id": "c", "unsubscribe_url": "u"}  # fmt: skip
    out = render(template, "email", context)
    assert "&lt;b&gt;Ann&lt;/b&gt;" in out["html"] and "<b>Ann</b>" in out["text"]


def test_a_journey_naming_an_unknown_template_or_channel_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "j.yaml"
    spec.write_text(
        "name: j\ntrigger: {event: Signed Up}\nsteps:\n"
        "  - {id: a, kind: send, channel: email, template: no_such_template}\n"
        "  - {id: b, kind: send, channel: sms, template: welcome_email, fallback: push}\n"
    )
    journeys = str(Path(sys.executable).parent / "journeys")
    env = {"PATH": "/usr/bin:/bin", "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp_path}/j.db"}
    result = subprocess.run([journeys, "publish", str(spec)], capture_output=True, text=True,
                            env=env, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert "steps[0] (id 'a').template: unknown template 'no_such_template'" in result.stderr
    assert "template 'welcome_email' has no sms content" in result.stderr
    assert "template 'welcome_email' has no push content" in result.stderr

"""Message templates: checked when loaded, and journeys may name only templates that exist."""

import subprocess
import sys
from pathlib import Path

import pytest

from journeys.channels.templates import load_templates, render
from journeys.config.settings import ConfigError


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


def journeys(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "journeys"), *args]
    env = {"PATH": "/usr/bin:/bin", **env}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


GREETING = """
greeting:
  email:
    subject: "Hi {{ traits.first_name }}"
    text: |
      {{ properties.offer | default('Hello') }}{% for p in products %} {{ p.name }}{% endfor %}.
      Unsubscribe: {{ unsubscribe_url }}
  popover:
    kind: welcome
    fields: {title: "Hi {{ traits.first_name | default('there') }}"}
    pages: ["/cart*"]
"""


def test_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    folder = write(tmp_path / "bad", GREETING + """
promo:
  email: {subject: "Hi {{ first_name }}", text: "{% if traits.vip %}VIP"}
tipped:
  popover: {kind: welcome, fields: {title: Hi}, pages: []}
""")  # fmt: skip
    result = journeys("templates", "check", str(folder))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any("promo.email.subject: unknown variable 'first_name'" in line for line in lines)
    assert any("promo.email.text: line 1:" in line for line in lines)
    assert any("tipped.popover.pages:" in line for line in lines)
    assert lines[-1] == f"journeys templates check: 3 problem(s) in {folder}"


@pytest.mark.slow
def test_check_passes_a_good_folder_and_warns_of_fields_needing_data(tmp_path: Path) -> None:
    folder = write(tmp_path / "good", GREETING)
    result = journeys("templates", "check", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"1 template(s) OK in {folder}"
    assert result.stderr.strip() == (
        "warning: greeting.email.subject: 'dict object' has no attribute 'first_name'"
        " (no traits, no properties)"
    )
    assert journeys("templates", "check", str(tmp_path / "none")).returncode == 1
    assert journeys("templates", "check").returncode == 0  # the shipped templates


@pytest.mark.slow
def test_preview_prints_each_channel_for_a_stored_customer(tmp_path: Path) -> None:
    from journeys.store.customers import upsert_traits
    from journeys.store.db import session_scope

    url = f"sqlite:///{tmp_path}/j.db"
    with session_scope(url) as session:
        upsert_traits(session, customer_id="u1", traits={"first_name": "Ann"})
        upsert_traits(session, customer_id="u2", traits={})
    env = {"JOURNEYS_DATABASE_URL": url, "JOURNEYS_TEMPLATES_DIR": str(write(tmp_path, GREETING)),
           "JOURNEYS_PUBLIC_URL": "https://shop.test", "JOURNEYS_SIGNING_KEY": "k"}  # fmt: skip

    samples = ["--properties", '{"offer": "10% off"}', "--products", '[{"name": "Boots"}]']
    result = journeys("templates", "preview", "greeting", "--customer", "u1", *samples, **env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "# greeting for customer u1", "", "[email]", "subject: Hi Ann", "text:",
    ]  # fmt: skip
    assert lines[5] == "  10% off Boots."
    assert lines[6].startswith("  Unsubscribe: https://shop.test/v1/unsubscribe?c=u1&ch=email&e=")
    assert lines[7:] == ["", "[popover]", "kind: welcome", "fields.title: Hi Ann", "pages: /cart*"]

    only = journeys("templates", "preview", "greeting", "--customer", "u2", "--channel",
                    "popover", **env)  # fmt: skip
    assert only.returncode == 0 and "fields.title: Hi there" in only.stdout
    assert "[email]" not in only.stdout

    for args, message in [
        (["--customer", "u2"], "template 'greeting' does not render for customer 'u2': "
         "email.subject: 'dict object' has no attribute 'first_name'"),
        (["--customer", "ghost"], "no customer 'ghost'"),
        (["--customer", "u1", "--channel", "sms"], "template 'greeting' has no sms content"),
        (["--customer", "u1", "--properties", "[1]"], "--properties: must be a JSON object"),
    ]:  # fmt: skip
        failed = journeys("templates", "preview", "greeting", *args, **env)
        assert failed.returncode == 1, args
        assert failed.stderr.startswith(f"journeys templates preview: {message}"), failed.stderr
        assert len(failed.stderr.splitlines()) == 1 and failed.stdout == ""

"""`journeys publish / list / show / enable / disable / archive / schema`, run as a user runs
them: the installed command in a subprocess, against a SQLite file."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from journeys.cli.catalog import schema_document
from journeys.data import JOURNEY_SCHEMA

JOURNEYS = str(Path(sys.executable).parent / "journeys")
REPO = Path(__file__).resolve().parents[2]
Journeys = Callable[..., subprocess.CompletedProcess[str]]

CART = """\
name: cart_recovery
trigger: {event: Checkout Started}
goal: {event: Order Completed}
steps:
  - {id: pause, kind: wait, duration: 1h}
  - id: nudge
    kind: wait_for_event
    event: Order Completed
    timeout: 1d
    on_timeout: remind
  - {id: remind, kind: send, channel: email, template: cart_recovery_email}
"""

WELCOME = """\
name: welcome
trigger: {event: Signed Up}
steps:
  - {id: hello, kind: send, channel: email, template: welcome_email}
"""

BROKEN_CART = """\
name: cart_recovery
trigger: {event: Checkout Started}
steps:
  - {id: pause, kind: wait, duration: soon}
  - {id: nudge, kind: wait_for_event, event: Order Completed, timeout: 1d, on_event: nowhere}
  - {id: remind, kind: send, channel: fax, template: cart_recovery_email}
"""

BROKEN_WELCOME = """\
name: welcome
trigger: {event: Signed Up}
steps:
  - {id: hello, kind: send, channel: email template: welcome_email}
"""


@pytest.fixture
def journeys(tmp_path: Path) -> Journeys:
    """Runs `journeys ARGS...` on a fresh SQLite store."""
    env = {"PATH": "/usr/bin:/bin", "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp_path}/journeys.db"}

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [JOURNEYS, *map(str, args)], capture_output=True, text=True, timeout=60, env=env
        )

    return run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.slow
def test_publish_creates_a_version_only_when_the_spec_changed(
    journeys: Journeys, tmp_path: Path
) -> None:
    cart = write(tmp_path / "specs" / "cart.yaml", CART)
    write(tmp_path / "specs" / "welcome.yml", WELCOME)

    first = journeys("publish", cart)
    assert (first.returncode, first.stdout) == (0, "cart_recovery v1 published\n")
    again = journeys("publish", tmp_path / "specs")  # a directory: all its YAML files, sorted
    assert again.returncode == 0
    assert again.stdout == "cart_recovery v1 unchanged\nwelcome v1 published\n"
    cart.write_text(CART.replace("duration: 1h", "duration: 2h"))
    assert journeys("publish", cart).stdout == "cart_recovery v2 published\n"

    listing = journeys("list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "STATUS", "VERSION", "PUBLISHED"]
    assert listing[1].split()[:3] == ["cart_recovery", "active", "2"]
    assert listing[2].split()[:3] == ["welcome", "active", "1"]

    old = journeys("show", "cart_recovery", "--version", "1")
    assert old.returncode == 0 and "duration: 1h" in old.stdout
    latest = journeys("show", "cart_recovery")
    assert latest.returncode == 0 and "duration: 2h" in latest.stdout
    assert latest.stdout.startswith("# cart_recovery v2 (active)\n")
    # What `show` prints is a spec again: it publishes as the same version.
    shown = write(tmp_path / "shown.yaml", latest.stdout)
    assert journeys("publish", shown).stdout == "cart_recovery v2 unchanged\n"


@pytest.mark.slow
def test_status_commands(journeys: Journeys, tmp_path: Path) -> None:
    cart = write(tmp_path / "cart.yaml", CART)
    journeys("publish", cart)
    assert journeys("disable", "cart_recovery").stdout == "cart_recovery is disabled\n"
    assert journeys("list").stdout.splitlines()[1].split()[1] == "disabled"
    assert journeys("enable", "cart_recovery").stdout == "cart_recovery is active\n"
    assert journeys("archive", "cart_recovery").stdout == "cart_recovery is archived\n"
    cart.write_text(CART.replace("1h", "3h"))
    refused = journeys("publish", cart)
    assert refused.returncode == 1
    assert "archived" in refused.stderr and "nothing published" in refused.stderr


@pytest.mark.slow
def test_invalid_specs_print_every_error_and_publish_nothing(
    journeys: Journeys, tmp_path: Path
) -> None:
    good = write(tmp_path / "a_good.yaml", CART.replace("name: cart_recovery", "name: good"))
    cart = write(tmp_path / "cart.yaml", BROKEN_CART)
    welcome = write(tmp_path / "welcome.yaml", BROKEN_WELCOME)

    result = journeys("publish", good, cart, welcome)

    assert result.returncode == 1 and result.stdout == ""
    errors = result.stderr.splitlines()
    assert f"{cart}: steps[0] (id 'pause').duration: 'soon' is not a duration" in result.stderr
    assert any(
        line.startswith(f"{cart}: steps[2] (id 'remind').channel: Input should be")
        and "(got 'fax')" in line
        for line in errors
    )
    assert any(line.startswith(f"{welcome}:4: YAML: ") for line in errors)
    assert errors[-1] == "journeys publish: 3 error(s); nothing published"
    assert journeys("list").stdout == "no journeys published yet\n"


def test_a_dangling_step_reference_names_the_step(journeys: Journeys, tmp_path: Path) -> None:
    spec = BROKEN_CART.replace("soon", "1h").replace("fax", "sms")
    result = journeys("publish", write(tmp_path / "cart.yaml", spec))
    assert result.returncode == 1
    assert "cart.yaml: steps[1] (id 'nudge').on_event: no step 'nowhere'" in result.stderr


LOOP = """\
name: spin
trigger: {event: Checkout Started}
steps:
  - {id: nudge, kind: send, channel: email, template: cart_recovery_email}
  - {id: again, kind: branch, cases: [{when: 'stage == "decision"', goto: nudge}]}
  - {id: rest, kind: wait, duration: 1d, next: nudge}
"""


def test_a_loop_without_a_wait_is_refused_and_one_with_a_wait_is_published(
    journeys: Journeys, tmp_path: Path
) -> None:
    """A run would send on every turn of such a loop, without end, and its history grow."""
    refused = journeys("publish", write(tmp_path / "spin.yaml", LOOP))
    assert refused.returncode == 1
    assert "spin.yaml: steps: nudge -> again -> nudge is a loop with no wait in it" in (
        refused.stderr
    )
    waiting = LOOP.replace("goto: nudge}]}", "goto: rest}]}")  # the loop goes through `rest`
    assert journeys("publish", write(tmp_path / "spin.yaml", waiting)).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "nothing"), "journeys show: no journey 'nothing'"),
        (("show", "cart_recovery", "--version", "9"), "has no version 9 (latest: 1)"),
        (("disable", "nothing"), "journeys disable: no journey 'nothing'"),
        (("publish", "missing.yaml"), "missing.yaml: no such file or directory"),
    ],
)
def test_unknown_names_and_versions_are_refused(
    journeys: Journeys, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    journeys("publish", write(tmp_path / "cart.yaml", CART))
    result = journeys(*args)
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_schema_lists_the_step_kinds(journeys: Journeys, tmp_path: Path) -> None:
    result = journeys("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    kinds = schema["properties"]["steps"]["items"]["discriminator"]["mapping"]
    assert {"wait", "wait_for_event", "branch", "send", "human_task", "exit"} <= set(kinds)
    output = tmp_path / "schema.json"
    assert journeys("schema", "--output", output).returncode == 0
    assert json.loads(output.read_text()) == schema


def test_the_committed_schema_is_current() -> None:
    committed = json.loads(JOURNEY_SCHEMA.read_text())
    assert committed == schema_document(), (
        "run: journeys schema --output journeys/data/journeys/journey.schema.json"
    )


@pytest.mark.slow
def test_events_and_properties_outside_the_tracking_plan_are_refused(
    journeys: Journeys, tmp_path: Path
) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "name: typo\n"
        "trigger: {event: Checkout Started, where: 'properties.totl > 50'}\n"
        "goal: {event: Order Complete}\n"
        "steps:\n"
        "  - {id: wait_order, kind: wait_for_event, event: Order Completed, timeout: 1d,\n"
        "     where: 'properties.total > 10 and properties[\"coupon_code\"] != None'}\n"
    )
    result = journeys("publish", typo)
    assert result.returncode == 1
    assert "typo.yaml: trigger: property 'totl' is not planned for 'Checkout Started'" in (
        result.stderr
    )
    assert "typo.yaml: goal: event 'Order Complete' is not in the tracking plan" in result.stderr
    assert "property 'coupon_code' is not planned for 'Order Completed'" in result.stderr
    assert "'total'" not in result.stderr  # planned: no complaint
    assert journeys("list").stdout.strip() == "no journeys published yet"

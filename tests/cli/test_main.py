"""The `journeys` command's answers to bad input: a message naming the problem, non-zero exit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from journeys.devserver import port_is_free
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e  # each test starts `journeys worker`, `api` or `up`

JOURNEYS = str(Path(sys.executable).parent / "journeys")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JOURNEYS, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_bad_quiet_hours_name_the_variable() -> None:
    result = run("worker", JOURNEYS_QUIET_HOURS="late")
    assert result.returncode != 0 and "JOURNEYS_QUIET_HOURS" in result.stderr


def test_a_bad_setting_names_the_variable() -> None:
    result = run("api", JOURNEYS_API_PORT="abc")
    assert result.returncode != 0
    assert "JOURNEYS_API_PORT" in result.stderr and "'abc'" in result.stderr


def test_a_bad_lifecycle_rules_file_stops_the_worker_with_its_reason(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - event: Trial Started\n    stage: delight\n")
    result = run("worker", JOURNEYS_LIFECYCLE_RULES_FILE=str(rules))
    assert result.returncode != 0
    assert "rules.0.stage" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_command_is_refused() -> None:
    result = run("launch")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("flag", ["--api-port", "--temporal-port"])
def test_up_refuses_a_busy_port(tmp_path: Path, flag: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_is_free(port)
        others = {
            "--api-port": free_port(),
            "--temporal-port": free_port(),
            "--ui-port": free_port(),
        }
        others[flag] = port
        args = ["up", "--no-demo", "--data-dir", str(tmp_path)]
        for name, value in others.items():
            args += [name, str(value)]
        result = run(*args)
    assert result.returncode != 0
    assert f"port {port} is in use" in result.stderr


def test_ctrl_c_while_the_commands_load_exits_quietly(tmp_path: Path) -> None:
    """Loading the commands takes a second or two: Ctrl-C then (or once the command runs)
    exits 130 with no traceback."""
    import signal
    import time

    from journeys.data import JOURNEYS as SPECS

    log = tmp_path / "calls.ndjson"
    log.write_text('{"type": "track", "userId": "c1", "event": "Order Completed", '
                   '"timestamp": "2024-01-01T00:00:00Z"}\n')  # fmt: skip
    child = subprocess.Popen(
        [JOURNEYS, "backtest", str(SPECS / "post_purchase.yaml"), "--events", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin"},
        # as from a terminal: a suite started in the background (`cmd &` in a script) passes
        # SIGINT on ignored, and Python then leaves it ignored until a handler is set
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    # past the interpreter's own start (a Ctrl-C inside `site` is Python's fatal error, not
    # ours): by the child's CPU time, not the wall clock, which a loaded machine stretches
    deadline = time.monotonic() + 30
    while _cpu_seconds(child.pid) < 0.2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in err, err


def _cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


LOADED = """
import sys
from journeys.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("journeys.cli.backtest", "journeys.cli.report", "journeys.charts.backtest", "uvicorn",
         "numpy", "journeys.cli.segments")
print("loaded:", *(name for name in heavy if name in sys.modules))
"""


def test_a_command_loads_only_what_it_needs(tmp_path: Path) -> None:
    """Each command starts without loading the others (the chart libraries, numpy, the web
    server): `journeys segments list` answers in about a second, not two."""
    env = {"PATH": "/usr/bin:/bin", "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"}

    def loaded(*args: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True,
                              text=True, timeout=60, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return set(done.stdout.rsplit("loaded:", 1)[1].split())

    assert loaded("segments", "list") == {"journeys.cli.segments"}
    assert loaded("--help") >= {"journeys.cli.backtest", "journeys.cli.segments"}  # lists all


def test_each_command_is_served_by_the_module_named_for_it() -> None:
    """`journeys` finds a command's module by name without importing the others: each module
    must serve the command it is named for."""
    from importlib import import_module

    from journeys.cli.commands import GROUPS

    assert {name: import_module(module).COMMAND for name, module in GROUPS.items()} == {
        name: name for name in GROUPS
    }

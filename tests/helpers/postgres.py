"""A throw-away PostgreSQL cluster for tests.

`postgres_cluster()` runs initdb into a temp dir, starts the server (as our child process) on a
free loopback port (trust auth, unix socket inside the temp dir), creates the `journeys` database,
yields
`postgresql://postgres@127.0.0.1:PORT/journeys`, then stops the server (`pg_ctl stop -m fast`)
and deletes the dir. PostgreSQL refuses to run as root, so as root the server binaries run as
the `postgres` OS user (via runuser), which owns the temp dir.

Server binaries: the newest /usr/lib/postgresql/*/bin (Debian), else `pg_config --bindir`,
else initdb on PATH. `PostgresUnavailable` says why none could be used.
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

DATABASE = "journeys"
SUPERUSER = "postgres"
OS_USER = "postgres"  # who runs the server when we are root


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server installation."""


def find_bindir() -> Path | None:
    """The directory with initdb, pg_ctl and postgres, or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0],
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Runner:
    """Runs the server binaries directly, or as the `postgres` OS user when we are root."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresUnavailable("running as root, but `runuser` is missing (util-linux)")
            try:
                import pwd

                pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, but there is no {OS_USER!r} OS user to run the server"
                ) from None
            self.prefix = [runuser, "-u", OS_USER, "--"]

    def chown(self, path: Path) -> None:
        if self.prefix:
            shutil.chown(path, user=OS_USER, group=None)

    def run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            cwd=self.workdir,  # the postgres user may not be allowed into our cwd
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextlib.contextmanager
def postgres_cluster(bindir: Path | None = None) -> Iterator[str]:
    """Start a throw-away cluster and yield the URL of its empty `journeys` database."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server found (looked in /usr/lib/postgresql/*/bin, `pg_config "
            "--bindir` and PATH); on Debian: apt-get install postgresql-15"
        )
    workdir = Path(tempfile.mkdtemp(prefix="journeys-pg-"))
    data, sockets, log = workdir / "data", workdir / "sockets", workdir / "server.log"
    try:
        runner = _Runner(bindir, workdir)
        runner.chown(workdir)
        os.chmod(workdir, 0o700)
        done = runner.run(
            "initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        sockets.mkdir()
        runner.chown(sockets)
        server, port = _start(runner, data, sockets, log)
        try:
            base = f"postgresql://{SUPERUSER}@127.0.0.1:{port}"
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            yield f"{base}/{DATABASE}"
        finally:
            _stop(runner, data, server)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _start(
    runner: _Runner, data: Path, sockets: Path, log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server on a free port (retrying if another process took it first).

    The server is our own child process (not daemonised by `pg_ctl start`), so we reap it
    ourselves and no exited postmaster lingers as a zombie waiting for init.
    """
    for _attempt in range(5):
        port = _free_port()
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [
                    *runner.prefix, str(runner.bindir / "postgres"), "-D", str(data),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", f"port={port}",
                    "-c", f"unix_socket_directories={sockets}",
                    # A throw-away cluster: durability off for speed.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                cwd=runner.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the tests is not the server's
            )  # fmt: skip
        if _wait_ready(server, port, timeout=60):
            return server, port
        _stop(runner, data, server)
        server_log = log.read_text(errors="replace")
        if "could not bind" not in server_log and "could not create any TCP" not in server_log:
            raise RuntimeError(f"PostgreSQL did not start ({server.returncode}):\n{server_log}")
    raise RuntimeError("could not find a free port for PostgreSQL")


def _wait_ready(server: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with psycopg.connect(
                f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", connect_timeout=2
            ):
                return True
        except psycopg.OperationalError:
            time.sleep(0.05)
    return False


def _stop(runner: _Runner, data: Path, server: subprocess.Popen[bytes]) -> None:
    """`pg_ctl stop -m fast`; if that fails, kill the postmaster. Always reap it."""
    if server.poll() is None:
        done = runner.run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30")
        if done.returncode != 0:
            _signal_postmaster(data, signal.SIGQUIT)  # immediate shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_postmaster(data, signal.SIGKILL)
            server.kill()
            server.wait(timeout=10)


def _signal_postmaster(data: Path, signum: int) -> None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int((data / "postmaster.pid").read_text().splitlines()[0]), signum)


def create_database(url: str, name: str, *, timezone: str | None = None) -> str:
    """Create database `name` on the server of `url` and return its URL."""
    base, _, _ = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        if timezone:
            conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO '{timezone}'")
    return f"{base}/{name}"


def drop_database(url: str, name: str) -> None:
    base, _, _ = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

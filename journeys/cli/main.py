"""`journeys`: run the embedded stack (`up`), or one part alone (`worker`, `api`); publish and
manage journey specs (`publish`, `list`, `show`, `enable`, `disable`, `archive`, `schema`);
check and preview message templates (`templates check`, `templates preview`); publish and
inspect segments (`segments publish|list|show|members|archive|activate|refresh-schedule`);
evaluate and schedule recommenders (`recs evaluate`, `recs schedule`); fit predictive CLV
(`clv fit`, `clv schedule`); A/B test results and promotions
(`experiments show|promote|revert|evaluate|schedule`); a journey over last year's events
(`backtest`, `events export`); synthetic shoppers (`simulate`); the store's schema
(`db upgrade`, `db current`)."""

import argparse
import asyncio
import atexit
import contextlib
import os
import signal
import socket
import sys
import traceback
from collections.abc import Iterator, Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from pydantic import ValidationError

from journeys.cli.commands import CATALOG, CATALOG_COMMANDS, GROUPS
from journeys.cli.dev_stack import DATA_DIR, dev_key
from journeys.config.logging import configure_logging
from journeys.config.settings import ConfigError, Settings, get_settings
from journeys.config.version import VERSION
from journeys.data import DEMO, JOURNEYS

if TYPE_CHECKING:
    from temporalio.client import ScheduleHandle

log = structlog.get_logger()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _serve_api(
    settings: Settings, stop: asyncio.Event, sock: socket.socket | None = None
) -> None:
    import uvicorn

    from journeys.api.app import create_app

    class _Server(uvicorn.Server):
        """uvicorn without its own signal handling: the CLI owns Ctrl-C for every part."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    await stop.wait()
    server.should_exit = True
    await task


async def _run_api(settings: Settings) -> None:
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await _serve_api(settings, stop)


async def _run_worker(settings: Settings) -> None:
    from journeys.worker.main import run_worker

    stop = asyncio.Event()
    _stop_on_signals(stop)
    await run_worker(settings, stop)


async def _up(args: argparse.Namespace, settings: Settings) -> None:
    from journeys.cli.demo import seed_catalogue, send_demo
    from journeys.devserver import DevServer
    from journeys.store.db import upgrade_schema
    from journeys.worker.main import run_worker

    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, object] = {
        "temporal_address": f"127.0.0.1:{args.temporal_port}",
        "api_port": args.api_port,
        "write_keys": settings.write_keys or [dev_key(data_dir, "write_key")],
        "admin_key": settings.admin_key or dev_key(data_dir, "admin_key"),
        "signing_key": settings.signing_key or dev_key(data_dir, "signing_key"),
        "public_url": f"http://{settings.api_host}:{args.api_port}",
    }
    if "database_url" not in settings.model_fields_set:
        overrides["database_url"] = f"sqlite:///{data_dir / 'journeys.db'}"
    if not args.no_demo:  # the demo page shows nine popovers to one visitor in a row
        overrides["demo_page"] = True
        caps = ("popovers_per_day", "popovers_per_session")
        overrides |= {cap: DEMO_POPOVER_CAP for cap in caps if cap not in settings.model_fields_set}
    settings = settings.model_copy(update=overrides)
    # Bound now, before the dev server starts: its own free ports and connections can't take it.
    api_socket = _bind_api_socket(settings.api_host, args.api_port)

    upgrade_schema(settings.database_url)
    _publish_shipped_segments(settings)  # first: journeys may name them
    _publish_shipped_journeys(settings)
    if settings.demo_page:
        _publish_shipped_journeys(settings, DEMO)  # the popover tour the demo page asks
    server = DevServer(data_dir / "temporal.db", args.temporal_port, args.ui_port)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    try:
        await server.start(log_file=data_dir / "temporal.log")
    except RuntimeError as err:
        raise SystemExit(f"journeys up: {err}") from err
    api_url = f"http://{settings.api_host}:{args.api_port}"
    shop = f"\n  Demo shop    {api_url}/demo  (nine popover kinds)" if settings.demo_page else ""
    print(
        f"\n  Temporal UI  http://localhost:{args.ui_port}"
        f"\n  Temporal     {server.address}"
        f"\n  API          {api_url}  (docs: {api_url}/docs){shop}"
        f"\n  Write key    {settings.write_keys[0]}"
        f"\n  Admin key    {settings.admin_key}"
        f"\n  Data         {data_dir}\n\n  Ctrl-C stops everything.\n",
        flush=True,
    )
    schedules = await _ensure_schedules(settings)
    try:
        parts = [
            asyncio.create_task(run_worker(settings, stop)),
            asyncio.create_task(_serve_api(settings, stop, api_socket)),
        ]
        marker = data_dir / "demo-loaded"
        if not args.no_demo and not marker.exists():
            seed_catalogue(settings.database_url)
            sent = await send_demo(api_url, settings.write_keys[0])
            marker.write_text(str(sent))
            log.info("demo_loaded", calls=sent, hint=f"http://localhost:{args.ui_port}")
            for schedule in schedules:  # segments and recommendations from the demo's data now
                await schedule.trigger()
        await asyncio.gather(*parts)
    finally:
        stop.set()
        server.stop()
        log.info("stopped")


DEMO_POPOVER_CAP = 20  # unless set: the demo visitor tries each kind, some twice


def _bind_api_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket (uvicorn serves it), or a clear exit when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise SystemExit(
            f"journeys up: port {port} is in use ({err.strerror}); choose another with --api-port"
        ) from err
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _ensure_schedules(settings: Settings) -> list["ScheduleHandle"]:
    """Segment refresh and recommendation training, created or updated to the settings."""
    from journeys.cli.schedules import ensure_schedules
    from journeys.config.temporal import connect

    client = await connect(settings)
    done = await ensure_schedules(client, settings)
    for schedule, result in done.items():
        log.info("schedule_ready", schedule=schedule, result=result)
    return [client.get_schedule_handle(schedule) for schedule in done]


def _publish_shipped_segments(settings: Settings) -> None:
    """The segments in `journeys/data/segments/`, saved (a new version only where one changed)."""
    from journeys.cli.segments import SHIPPED, load_definition_files
    from journeys.store.db import session_scope
    from journeys.store.segments import save_segment

    definitions, errors = load_definition_files([SHIPPED])
    if errors:
        raise SystemExit("journeys up: invalid segment definitions:\n" + "\n".join(errors))
    with session_scope(settings.database_url) as session:
        for definition in definitions:
            save_segment(session, definition=definition)


def _publish_shipped_journeys(settings: Settings, folder: Path = JOURNEYS) -> None:
    """The journeys in `folder` (the shipped ones), published (a version only where one
    changed)."""
    from journeys.channels.templates import load_templates
    from journeys.cli.specs import SpecError, load_spec_files
    from journeys.config.tracking_plan import load_tracking_plan
    from journeys.store.db import session_scope
    from journeys.store.journeys import CatalogError, publish_spec

    if not folder.is_dir():
        return
    try:
        specs = load_spec_files(
            [folder],
            plan=load_tracking_plan(settings.tracking_plan_file),
            templates=load_templates(settings.templates_dir),
        )
        with session_scope(settings.database_url) as session:
            results = [publish_spec(session, spec=spec) for spec in specs]
    except SpecError as err:
        raise SystemExit("journeys up: invalid journey specs:\n" + "\n".join(err.errors)) from err
    except CatalogError as err:
        raise SystemExit(f"journeys up: {err}") from err
    for result in results:
        log.info(
            "journey_published" if result.created else "journey_current",
            journey=result.name,
            version=result.version,
        )


def _command_modules(argv: Sequence[str]) -> list[str]:
    """The modules whose commands the parser needs: the one `argv` names (the first word),
    none for up, worker and api, every one for help or a word that is no command."""
    named = next((word for word in argv if not word.startswith("-")), None)
    if named in ("up", "worker", "api"):
        return []
    if named in CATALOG_COMMANDS:
        return [CATALOG]
    if named in GROUPS:
        return [GROUPS[named]]
    return [CATALOG, *GROUPS.values()]


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with the commands `argv` may need (all by default)."""
    parser = argparse.ArgumentParser(prog="journeys", description=__doc__)
    parser.add_argument("--version", action="version", version=f"journeys {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the embedded stack: Temporal dev server, worker, API, demo")
    up.add_argument("--data-dir", type=Path, default=DATA_DIR)
    up.add_argument("--api-port", type=int, default=8000)
    up.add_argument("--temporal-port", type=int, default=7233)
    up.add_argument("--ui-port", type=int, default=8233)
    up.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    worker = sub.add_parser("worker", help="run a worker against a Temporal server")
    worker.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")
    api = sub.add_parser("api", help="run the HTTP API against a Temporal server")
    api.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")
    api.add_argument("--host", help="bind address (default: JOURNEYS_API_HOST)")
    api.add_argument("--port", type=int, help="port (default: JOURNEYS_API_PORT)")
    for module in _command_modules(argv if argv is not None else []):
        import_module(module).add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    words = sys.argv[1:] if argv is None else argv
    args = _parser(words).parse_args(words)
    try:
        settings = get_settings()
    except ValidationError as err:
        problems = "; ".join(
            f"JOURNEYS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']} (got {e['input']!r})"
            for e in err.errors()
        )
        sys.exit(f"journeys: invalid settings: {problems}")
    configure_logging(settings.log_level, settings.log_format)
    if args.command in CATALOG_COMMANDS:
        try:
            sys.exit(import_module(CATALOG).run(args, settings))
        except ConfigError as err:
            sys.exit(f"journeys {args.command}: {err}")
    if args.command in GROUPS:
        try:
            sys.exit(import_module(GROUPS[args.command]).run(args, settings))
        except ConfigError as err:
            sys.exit(f"journeys {args.command} {args.action}: {err}")
    if args.command != "up":
        updates = {
            "temporal_address": args.address,
            "api_host": getattr(args, "host", None),
            "api_port": getattr(args, "port", None),
        }
        settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    runner = {
        "up": lambda: _up(args, settings),
        "worker": lambda: _run_worker(settings),
        "api": lambda: _run_api(settings),
    }[args.command]
    try:
        asyncio.run(runner())
    except ConfigError as err:
        sys.exit(f"journeys: {err}")


def entry() -> None:
    """The `journeys` console script: `main`, then exit without interpreter teardown. The Temporal
    client's Rust threads can abort a finalizing interpreter (SIGABRT after the command succeeded,
    temporalio/sdk-python#300), so exit handlers run and output is flushed here, then `os._exit`."""
    code: int
    try:
        main()
        code = 0
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            code = done.code or 0
        else:
            print(done.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception:  # reported as the interpreter would, then exit 1
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()

"""`journeys db upgrade`, `db current [--check]`: the store's schema (JOURNEYS_DATABASE_URL).

`journeys up`, the API and the worker upgrade at start by themselves; these are for operators
who upgrade as a deploy step, or want to see where a database stands."""

import argparse

from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from journeys.config.settings import ConfigError, Settings
from journeys.store import schema
from journeys.store.db import create_store_engine

COMMAND = "db"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    db = sub.add_parser(COMMAND, help="the store's schema: upgrade it, or show its revision")
    actions = db.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="apply the migrations the store lacks (under a lock)")
    current = actions.add_parser("current", help="the store's schema revision and the newest")
    current.add_argument(
        "--check", action="store_true", help="exit 1 if the store is not at the newest revision"
    )


def _name(revision: str | None) -> str:
    return revision or "none (empty, or made by 0.1 without migrations)"


def run(args: argparse.Namespace, settings: Settings) -> int:
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = create_store_engine(settings.database_url)
    try:
        return _run(args, engine, where)
    except (OperationalError, CommandError) as err:
        reason = getattr(err, "orig", None) or err  # the driver's words, without the SQL
        raise ConfigError(f"cannot read the store at {where}: {reason}") from err
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, engine: Engine, where: str) -> int:
    if args.action == "upgrade":
        before, after = schema.upgrade(engine)
        if before.up_to_date:
            print(f"{where}: already at {after.current}")
        else:
            print(f"{where}: upgraded from {_name(before.current)} to {after.current}")
        return 0
    state = schema.state(engine)
    if state.up_to_date:
        print(f"{where}: {state.current} (newest)")
        return 0
    print(f"{where}: {_name(state.current)}; newest {state.head}: run `journeys db upgrade`")
    return 1 if args.check else 0

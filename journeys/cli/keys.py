"""`journeys keys create --kind write|admin --name NAME`, `keys list`, `keys revoke KEY_ID`:
the same as /v1/keys, straight on the store (JOURNEYS_DATABASE_URL)."""

import argparse

from journeys.config.settings import ConfigError, Settings
from journeys.store.db import session_scope
from journeys.store.keys import KINDS, create_key, list_keys, revoke_key

COMMAND = "keys"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = sub.add_parser(COMMAND, help="make, list and revoke write and admin keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key; it is printed once, then only hashed")
    create.add_argument("--kind", choices=KINDS, required=True)
    create.add_argument("--name", required=True)
    actions.add_parser("list", help="every key, without secrets")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")


def run(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        if args.action == "create":
            row, key = create_key(session, kind=args.kind, name=args.name)
            print(f"{row.kind} key {row.key_id} ({row.name}): {key}")
            print("Keep it now: only its SHA-256 is stored.")
        elif args.action == "list":
            for row in list_keys(session):
                state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                print(f"{row.key_id}  {row.kind:5}  {row.name}  {state}")
        elif revoke_key(session, key_id=args.key_id) is None:
            raise ConfigError(f"no key {args.key_id!r}")
        else:
            print(f"revoked {args.key_id}")
    return 0

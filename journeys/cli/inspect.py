"""`journeys inspect CUSTOMER`: why did this customer get this message? One page of everything
the product knows of a customer — stage history, journeys (runs and entry decisions), messages
sent, skipped or failed with the reason, next-best-action decisions, experiment assignments —
from the store, plus the live state from the customer's workflow when Temporal answers.

    journeys inspect u-42 [--address HOST:PORT] [--json]
"""

import argparse
import asyncio
import json
from typing import Any

from journeys.client import live_state, run_status
from journeys.config.settings import ConfigError, Settings
from journeys.store.db import session_scope
from journeys.store.inspect import customer_story

COMMAND = "inspect"


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    inspect = sub.add_parser(COMMAND, help="everything known of one customer, and why")
    inspect.add_argument("customer", help="the customer id (without `customer-`)")
    inspect.add_argument("--address", help="Temporal address (default: JOURNEYS_TEMPORAL_ADDRESS)")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(action="customer")


def run(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        report = customer_story(session, args.customer)
    report["workflow"] = asyncio.run(_live_state(settings, args.customer, args.address))
    if not report["profile"] and not report["runs"] and report["workflow"] is None:
        raise ConfigError(f"no customer {args.customer!r} in the store or in Temporal")
    print(json.dumps(report, indent=2, default=str) if args.json else render(report))
    return 0


async def _live_state(settings: Settings, customer_id: str, address: str | None) -> Any:
    """The customer's workflow state, or None if Temporal cannot be reached."""
    from journeys.config.temporal import connect

    try:
        client = await asyncio.wait_for(connect(settings, address=address), timeout=5)
    except Exception:  # noqa: BLE001  (no server: the store speaks)
        return None
    return await live_state(client, customer_id)


def render(report: dict[str, Any]) -> str:
    lines = [f"customer {report['customer_id']}"]
    live = report["workflow"]
    if live:
        held = live["held_journeys"]
        journeys = [f"{name} (held: starts {_t(held[name])})" if name in held else name
                    for name in live["active_journeys"]]  # fmt: skip
        lines.append(f"  now: {live['stage']}{' (at risk)' if live['at_risk'] else ''}, "
                     f"{live['events_total']} events, segments: "
                     f"{', '.join(live['segments']) or 'none'}, journeys: "
                     f"{', '.join(journeys) or 'none'}")  # fmt: skip
    else:
        lines.append("  (no live state: Temporal did not answer; the store's record follows)")
    sections = [
        ("stages", lambda s: f"{_t(s['at'])}  {s['from'] or '-'} -> {s['to']}  ({s['cause']})"),
        ("messages", lambda m: f"{_t(m['at'])}  {m['journey']}.{m['step']}  {m['channel']} "
                               f"{m['template']}: {m['status']}"
                               + (f" ({m['reason']})" if m["reason"] else "")),
        ("decisions", lambda d: f"{_t(d['at'])}  {d['journey']}.{d['step']}: {d['chosen']}  "
                                + ", ".join(f"{k}={v:.2f}" for k, v in d["expected"].items())),
        ("assignments", lambda a: f"{_t(a['at'])}  {a['journey']}.{a['step']}: {a['variant']}"),
    ]  # fmt: skip
    for title, line in sections:
        lines.append(f"{title}:")
        lines += [f"  {line(item)}" for item in report[title]] or ["  none"]
    lines.append("journeys:")
    for run in report["runs"]:
        lines.append(f"  {run['workflow_id']} (v{run['version']}): {run_status(run, live)}")
        lines += [f"    {_t(s['at'])}  {s['step']}: {s['result'] or '-'}" for s in run["steps"]]
    if live:
        lines.append("entry decisions:")
        lines += [f"  {d['at'][:19]}  {d['journey']}: {d['reason']}"
                  for d in live["entry_decisions"]] or ["  none"]  # fmt: skip
        lines.append("entries refused, in all:")
        lines += [f"  {journey}: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
                  for journey, kinds in sorted(live["refused"].items())] or ["  none"]  # fmt: skip
    return "\n".join(lines)


def _t(value: Any) -> str:
    return str(value)[:19]

"""A backtest's historical event log: read NDJSON (one Segment call per line, as `/v1/batch`
takes them, each with its `timestamp`) or CSV (`customer_id,timestamp,event[,properties]`),
check every line, and hand the calls back in event-time order.

The log may be larger than memory and in any order (CDNOW's file is sorted by customer), so the
calls go through a temporary SQLite table indexed by time: an external sort in one place.

A large log is cut into shards of customers, each run on its own test server (the server slows
with every workflow it holds). The ids one person went by — an anonymousId identified as a
userId, an alias's previousId — stay in one shard, so no merge crosses two.
"""

import csv
import io
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from journeys.api.schemas import SegmentCall
from journeys.config.settings import ConfigError


class EventLogError(ConfigError):
    """A line of the event log that cannot be replayed; names the file, line and field."""


@dataclass(frozen=True)
class LogSummary:
    calls: int
    customers: int
    first: datetime | None
    last: datetime | None


def parse_instant(text: str) -> datetime:
    """A UTC date (`2025-01-31`, `19970101`) or ISO 8601 instant; naive times are UTC."""
    text = text.strip()
    try:
        if len(text) == 8 and text.isdigit():
            moment = datetime.combine(date(int(text[:4]), int(text[4:6]), int(text[6:])),
                                      datetime.min.time())  # fmt: skip
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise ValueError(f"not a date or ISO 8601 time: {text!r}") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as err:  # "Expecting value: line 1 column 1" alone says little
        raise ValueError(f"not JSON ({err})") from err


def _call_from_json(text: str) -> SegmentCall:
    data = _json(text)
    if not isinstance(data, dict):
        raise ValueError("a line must be one JSON object (a Segment call)")
    call = SegmentCall.model_validate(data)
    if call.timestamp is None and call.originalTimestamp is None:
        raise ValueError("timestamp: required in a backtest (when the call happened)")
    return call


def _call_from_row(row: list[str], line: int) -> SegmentCall:
    if len(row) not in (3, 4):
        raise ValueError(
            f"expected customer_id,timestamp,event[,properties], got {len(row)} fields"
        )
    customer, moment, event = (field.strip() for field in row[:3])
    properties: Any = {}
    if len(row) == 4 and row[3].strip():
        try:
            properties = _json(row[3])
        except ValueError as err:
            raise ValueError(f"properties: {err}") from err
        if not isinstance(properties, dict):
            raise ValueError("properties: must be a JSON object")
    try:
        timestamp = parse_instant(moment)
    except ValueError as err:
        raise ValueError(f"timestamp: {err}") from err
    return SegmentCall(
        type="track", userId=customer, event=event, properties=properties, timestamp=timestamp,
        messageId=f"csv-{line}",  # the same file gives the same ids: a rerun is the same run
    )  # fmt: skip


def _when(call: SegmentCall) -> datetime:
    moment = call.timestamp or call.originalTimestamp
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _customer_key(call: SegmentCall) -> str:
    return f"user:{call.userId}" if call.userId else f"anonymous:{call.anonymousId}"


def _linked_keys(call: SegmentCall) -> list[str]:
    """The keys a call says are one person (besides its own)."""
    linked = [f"anonymous:{call.anonymousId}"] if call.userId and call.anonymousId else []
    if call.type == "alias" and call.previousId:  # an anonymous or an identified id
        linked += [f"anonymous:{call.previousId}", f"user:{call.previousId}"]
    return linked


class _People:
    """Union-find over customer keys: which keys name one person."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        while key != root:  # path compression
            key, self.parent[key] = self.parent[key], root
        return root

    def join(self, a: str, b: str) -> None:
        first, second = sorted((self.find(a), self.find(b)))
        self.parent[second] = first  # the smallest key leads: the same log, the same leaders


class EventLog:
    """The calls of a log between `start` (inclusive) and `end` (exclusive), sorted by time
    (ties in file order). Built once by `load`, read as often as there are versions to try."""

    def __init__(self, directory: Path, *, existing: bool = False) -> None:
        """A new log in `directory`, or with `existing` the one loaded there (a shard's
        process reads its calls from it)."""
        self.directory = directory
        # loaded in a worker thread, read in the event loop: one user at a time
        self.db = sqlite3.connect(directory / "events.sqlite3", check_same_thread=False)
        if not existing:
            self.db.execute(
                "CREATE TABLE calls (at REAL NOT NULL, line INTEGER NOT NULL,"
                " customer TEXT NOT NULL, body TEXT NOT NULL, shard INTEGER NOT NULL DEFAULT 0)"
            )
        self.people = _People()
        self.shards = 1

    def load(
        self, source: IO[str], *, name: str, csv_format: bool = False,
        start: datetime | None = None, end: datetime | None = None,
    ) -> LogSummary:  # fmt: skip
        """Check and keep every call in the window; the first bad line stops it with
        `file:line: field: reason`."""
        rows: list[tuple[float, int, str, str]] = []
        for line, call in _parse(source, name=name, csv_format=csv_format):
            moment = _when(call)
            if (start and moment < start) or (end and moment >= end):
                continue
            body = call.model_dump_json(exclude_none=True)
            key = _customer_key(call)
            self.people.find(key)
            for other in _linked_keys(call):
                self.people.join(key, other)
            rows.append((moment.timestamp(), line, key, body))
            if len(rows) >= 10_000:
                self.db.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, 0)", rows)
                rows.clear()
        self.db.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, 0)", rows)
        self.db.execute("CREATE INDEX calls_by_time ON calls (shard, at, line)")
        self.db.commit()
        return self.summary()

    def split(self, people_per_shard: int) -> int:
        """Deal the people out to shards of at most `people_per_shard` (in order of their
        leading key: the same log, the same shards); how many shards."""
        leaders = sorted({self.people.find(key) for key in self.people.parent})
        self.shards = max(1, -(-len(leaders) // max(people_per_shard, 1)))
        if self.shards > 1:
            shard = {leader: n % self.shards for n, leader in enumerate(leaders)}
            # one pass over the calls through a keyed table (an UPDATE per customer scanned
            # every call each time: six minutes for CDNOW's 23,570 customers and 93,229 calls)
            self.db.execute("CREATE TEMP TABLE shard_of (customer TEXT PRIMARY KEY, shard INT)")
            self.db.executemany(
                "INSERT INTO shard_of VALUES (?, ?)",
                ((key, shard[self.people.find(key)]) for key in self.people.parent),
            )
            self.db.execute(
                "UPDATE calls SET shard ="
                " (SELECT shard FROM shard_of WHERE shard_of.customer = calls.customer)"
            )
            self.db.execute("DROP TABLE shard_of")
            self.db.commit()
        return self.shards

    def summary(self) -> LogSummary:
        """Customers are people: the ids an identify or an alias joins count once (a
        simulated visitor browses as an anonymousId, then signs up as a userId)."""
        count, first, last = self.db.execute(
            "SELECT count(*), min(at), max(at) FROM calls"
        ).fetchone()
        keys = [key for (key,) in self.db.execute("SELECT DISTINCT customer FROM calls")]
        people = {self.people.find(key) for key in keys} if self.people.parent else keys
        return LogSummary(
            calls=count, customers=len(people),
            first=datetime.fromtimestamp(first, UTC) if first is not None else None,
            last=datetime.fromtimestamp(last, UTC) if last is not None else None,
        )  # fmt: skip

    def slots(
        self, resolution: timedelta, shard: int = 0
    ) -> Iterator[tuple[datetime, list[SegmentCall]]]:
        """One shard's calls in time order, grouped by `resolution`: each group with the time of
        its latest call (the clock a group is delivered at never runs behind its calls)."""
        step = resolution.total_seconds()
        group: list[SegmentCall] = []
        group_slot: float | None = None
        latest = 0.0
        query = "SELECT at, body FROM calls WHERE shard = ? ORDER BY at, line"
        for at, body in self.db.execute(query, (shard,)):
            slot = at // step if step else at
            if group and slot != group_slot:
                yield datetime.fromtimestamp(latest, UTC), group
                group = []
            group_slot, latest = slot, at
            group.append(SegmentCall.model_validate_json(body))
        if group:
            yield datetime.fromtimestamp(latest, UTC), group

    def close(self) -> None:
        self.db.close()


def _parse(source: IO[str], *, name: str, csv_format: bool) -> Iterable[tuple[int, SegmentCall]]:
    if csv_format:
        reader = csv.reader(source)
        for row in reader:
            line = reader.line_num
            if not row or (line == 1 and row[0].strip() == "customer_id"):
                continue  # a blank line, or the header
            yield line, _checked(lambda r=row, n=line: _call_from_row(r, n), name, line)
        return
    for line, text in enumerate(source, start=1):
        if text.strip():
            yield line, _checked(lambda t=text: _call_from_json(t), name, line)


def _checked(parse: Any, name: str, line: int) -> SegmentCall:
    try:
        call: SegmentCall = parse()
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "call"
        raise EventLogError(f"{name}:{line}: {field}: {first['msg']}") from err
    except (ValueError, RecursionError) as err:
        raise EventLogError(f"{name}:{line}: {err}") from err
    return call


def open_source(path: str) -> tuple[IO[str], str]:
    """`-` is standard input."""
    if path == "-":
        import sys

        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8"), "<stdin>"
    try:
        return open(path, encoding="utf-8", newline=""), path  # noqa: SIM115 (the caller closes)
    except OSError as err:
        raise EventLogError(f"{path}: {err.strerror}") from err


@contextmanager
def temporary_directory() -> Iterator[str]:
    """The backtest's folder (log, store, shards), removed at the end. After a Ctrl-C an
    activity's thread can still be writing the store while the folder goes, and one removal
    then met a file made meanwhile ("Directory not empty"): it is tried again."""
    path = tempfile.mkdtemp(prefix="journeys-backtest-")
    try:
        yield path
    finally:
        _remove_soon(Path(path))


def _remove_soon(path: Path, tries: int = 20) -> None:
    for _ in range(tries - 1):
        try:
            shutil.rmtree(path)
            return
        except OSError:
            time.sleep(0.1)
    shutil.rmtree(path, ignore_errors=True)

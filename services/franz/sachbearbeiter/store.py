"""sachbearbeiter's local ticket store: every ticket it owns, on disk, with the event offset it reflects.

RocksDB through `rocksdict`, chosen over SQLite by measuring this workload (`benchmarks/store_engines.py`:
300k ticket records written in batches of 500, then random reads): about 4 times the write rate and
twice the read rate, and a single ordered key space in which a partition is a key range that is dropped
in one call. Keys:

    m                      the store's identity: format, events topic, partition count
    p/<partition>          a partition's mark: the next event offset it reflects and its ticket counts
    t/<partition>/<id>     one ticket: its state, recent command ids, last event offset, event offsets
    u/<partition>/<id>     offsets of events about an id that is no ticket (refused commands)

A partition's tickets and its mark are written in one write batch, so the offset the store claims and
the tickets it holds never disagree. A partition without a mark was never completely restored (a restore
killed half-way leaves exactly that): it is dropped and restored again, never trusted. A store that
cannot be opened (corrupted files) or that belongs to another events topic is deleted and rebuilt.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from rocksdict import Options, Rdict, WriteBatch

from franz.contracts import TicketState
from franz.exceptions import ConfigError
from franz.sachbearbeiter.core import GaugeKey, Ticket

log = logging.getLogger(__name__)

FORMAT: Final = 1
_META: Final = b"m"


class PartitionsChanged(ConfigError):
    """The lifecycle topics have another partition count than the one the tickets were placed by."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A completely restored partition: every event below `events` is folded into its tickets."""

    events: int
    counts: Counter[GaugeKey]


def _mark_key(partition: int) -> bytes:
    return b"p/%04d" % partition


def _prefix(partition: int, kind: bytes = b"t") -> bytes:
    return kind + b"/%04d/" % partition


def _ticket_key(partition: int, ticket_id: str) -> bytes:
    return _prefix(partition) + ticket_id.encode()


def _orphan_key(partition: int, ticket_id: str) -> bytes:
    return _prefix(partition, b"u") + ticket_id.encode()


def encode_ticket(ticket: Ticket) -> bytes:
    return orjson.dumps(
        {
            "state": ticket.state,
            "commands": list(ticket.commands),
            "offset": ticket.offset,
            "history": ticket.history,
        }
    )


def decode_ticket(value: bytes) -> Ticket:
    record: dict[str, Any] = orjson.loads(value)
    return Ticket(
        state=record["state"],
        commands=OrderedDict.fromkeys(record["commands"]),
        offset=record["offset"],
        history=record["history"],
    )


def partition_growth_message(topic: str, *, was: int, now: int) -> str:
    return (
        f"{topic} has {now} partitions, but its tickets were placed by {was}: growing the lifecycle topics "
        "moves ticket ids to other partitions and splits their histories, so sachbearbeiter refuses to "
        f"start; give the lifecycle topics {was} partitions again (recreate them), or run a new pipeline"
    )


class TicketStore:
    """The store of one sachbearbeiter instance. RocksDB is safe to read from the read API's threads
    while the loop's thread writes."""

    def __init__(self, path: Path, *, events_topic: str, partitions: int) -> None:
        self.path = path
        self.partitions = partitions
        self._db = self._open_or_rebuild(events_topic)

    @staticmethod
    def _options() -> Options:
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_paranoid_checks(True)
        # Memory that holds at any ticket count: two 16 MB memtables; reads go through the page cache.
        options.set_write_buffer_size(16 * 1024 * 1024)
        options.set_max_write_buffer_number(2)
        return options

    def _open_or_rebuild(self, events_topic: str) -> Rdict:
        identity = {"format": FORMAT, "events_topic": events_topic}
        try:
            db = Rdict(str(self.path), self._options())
            raw = db.get(_META)
        except Exception as error:  # RocksDB reports a corrupted file as a plain Exception
            log.warning(
                "the ticket store cannot be opened; deleting and rebuilding it from the topics",
                extra={"path": str(self.path), "error": str(error)},
            )
            shutil.rmtree(self.path, ignore_errors=True)
            db = Rdict(str(self.path), self._options())
            raw = None
        meta: dict[str, Any] = orjson.loads(raw) if raw is not None else {}
        if meta and {key: meta.get(key) for key in identity} != identity:
            log.warning(
                "the ticket store belongs to another events topic or format; rebuilding it",
                extra={"path": str(self.path), "found": meta.get("events_topic")},
            )
            db.close()
            shutil.rmtree(self.path, ignore_errors=True)
            db = Rdict(str(self.path), self._options())
            meta = {}
        if meta and meta["partitions"] != self.partitions:
            db.close()
            raise PartitionsChanged(
                partition_growth_message(events_topic, was=meta["partitions"], now=self.partitions)
            )
        db.put(_META, orjson.dumps({**identity, "partitions": self.partitions}))
        return db

    def mark(self, partition: int) -> Mark | None:
        raw = self._db.get(_mark_key(partition))
        if raw is None:
            return None
        record: dict[str, Any] = orjson.loads(raw)
        counts: Counter[GaugeKey] = Counter({tuple(key): n for *key, n in record["counts"]})
        return Mark(events=record["events"], counts=counts)

    def loader(self, partition: int) -> Callable[[str], Ticket | None]:
        def load(ticket_id: str) -> Ticket | None:
            raw = self._db.get(_ticket_key(partition, ticket_id))
            return None if raw is None else decode_ticket(raw)

        return load

    def write(
        self,
        partition: int,
        tickets: Mapping[str, Ticket],
        *,
        orphans: Mapping[str, list[int]] | None = None,
        events: int | None = None,
        counts: Counter[GaugeKey] | None = None,
    ) -> None:
        """The tickets (and offsets of events about no ticket), and with `events` the partition's mark,
        in one atomic write batch. Only the loop's thread writes."""
        batch = WriteBatch(raw_mode=True)
        for ticket_id, ticket in tickets.items():
            batch.put(_ticket_key(partition, ticket_id), encode_ticket(ticket))
        for ticket_id, offsets in (orphans or {}).items():
            key = _orphan_key(partition, ticket_id)
            batch.put(key, orjson.dumps(self.orphan_offsets(partition, ticket_id) + offsets))
        if events is not None:
            assert counts is not None, "a mark carries the partition's ticket counts"
            counted = [[*key, n] for key, n in counts.items() if n]
            batch.put(_mark_key(partition), orjson.dumps({"events": events, "counts": counted}))
        self._db.write(batch)

    def drop(self, partition: int) -> None:
        """Forget a partition (its mark first, so a crash in between leaves it untrusted, not half)."""
        self._db.delete(_mark_key(partition))
        for kind in (b"t", b"u"):
            prefix = _prefix(partition, kind)
            self._db.delete_range(prefix, prefix[:-1] + b"0")  # "0" sorts right after "/"

    def ticket(self, partition: int, ticket_id: str) -> Ticket | None:
        return self.loader(partition)(ticket_id)

    def orphan_offsets(self, partition: int, ticket_id: str) -> list[int]:
        raw = self._db.get(_orphan_key(partition, ticket_id))
        return [] if raw is None else list(orjson.loads(raw))

    def scan(
        self,
        partitions: Collection[int],
        *,
        after: bytes | None,
        limit: int,
        budget: int,
        match: Callable[[TicketState], bool],
    ) -> tuple[list[TicketState], bytes | None]:
        """Up to `limit` matching states in key order after the key `after`, reading at most `budget`
        tickets; and the key to continue after (None at the end), so every page costs a bounded read."""
        found: list[TicketState] = []
        for read, (key, value) in enumerate(self._items(sorted(partitions), after), start=1):
            state: TicketState = orjson.loads(value)["state"]
            if match(state):
                found.append(state)
            if len(found) >= limit or read >= budget:
                return found, key
        return found, None

    def _items(self, partitions: list[int], after: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        for partition in partitions:
            prefix = _prefix(partition)
            if after is not None and after[: len(prefix)] > prefix:
                continue  # a page earlier covered this partition
            it = self._db.iter()
            it.seek(after if after is not None and after.startswith(prefix) else prefix)
            if it.valid() and it.key() == after:
                it.next()
            while it.valid() and it.key().startswith(prefix):
                yield it.key(), it.value()
                it.next()

    def size_bytes(self) -> int:
        return sum(file.stat().st_size for file in self.path.rglob("*") if file.is_file())

    def close(self) -> None:
        self._db.close()

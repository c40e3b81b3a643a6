"""RocksDB (rocksdict) against SQLite on sachbearbeiter's store workload, side by side in one run: why
the store is RocksDB.

    .venv/bin/python benchmarks/store_engines.py [--tickets 300000]

Ticket records as the store writes them (a state with a 400-character body, a history, a command id),
written in batches of 500 (one batch per loop batch) and then read back at random (the read API's and
the fold's lookups). SQLite in WAL mode with synchronous=NORMAL, a WITHOUT ROWID table keyed by the
same bytes. The sizes on disk are printed too; the body here compresses better than real text does.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Options, Rdict, WriteBatch

BATCH = 500
READS = 20_000


def record(n: int) -> bytes:
    state = {"ticket_id": f"T-{n:010d}", "status": "open", "body": f"ticket {n} " + "x" * 400}
    return orjson.dumps({"state": state, "history": [n, n + 1, n + 2, n + 3], "commands": [f"discord:{n}"]})


def size(path: Path) -> float:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file()) / 1e6


def rocksdb(keys: list[bytes], values: list[bytes], path: Path) -> tuple[float, float, float]:
    options = Options(raw_mode=True)
    options.set_write_buffer_size(16 * 1024 * 1024)
    db = Rdict(str(path), options)
    started = time.perf_counter()
    for start in range(0, len(keys), BATCH):
        batch = WriteBatch(raw_mode=True)
        for key, value in zip(keys[start : start + BATCH], values[start : start + BATCH], strict=True):
            batch.put(key, value)
        db.write(batch)
    writes = len(keys) / (time.perf_counter() - started)
    started = time.perf_counter()
    for key in random.sample(keys, READS):
        db.get(key)
    reads = READS / (time.perf_counter() - started)
    db.flush()
    db.close()
    return writes, reads, size(path)


def sqlite(keys: list[bytes], values: list[bytes], path: Path) -> tuple[float, float, float]:
    path.mkdir()
    db = sqlite3.connect(path / "store.db")
    db.execute("pragma journal_mode=wal")
    db.execute("pragma synchronous=normal")
    db.execute("create table tickets (key blob primary key, value blob) without rowid")
    started = time.perf_counter()
    for start in range(0, len(keys), BATCH):
        with db:
            db.executemany(
                "insert or replace into tickets values (?, ?)",
                zip(keys[start : start + BATCH], values[start : start + BATCH], strict=True),
            )
    writes = len(keys) / (time.perf_counter() - started)
    started = time.perf_counter()
    for key in random.sample(keys, READS):
        db.execute("select value from tickets where key = ?", (key,)).fetchone()
    reads = READS / (time.perf_counter() - started)
    db.close()
    return writes, reads, size(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=300_000)
    args = parser.parse_args()
    keys = [b"t/0001/T-%010d" % n for n in range(args.tickets)]
    values = [record(n) for n in range(args.tickets)]
    work = Path(tempfile.mkdtemp(prefix="franz-store-engines-"))
    rocks = rocksdb(keys, values, work / "rocksdb")
    lite = sqlite(keys, values, work / "sqlite")
    print(f"{args.tickets} ticket records, batches of {BATCH}, {READS} random reads")
    for name, (writes, reads, megabytes) in (("rocksdict (RocksDB)", rocks), ("sqlite3 (WAL)", lite)):
        print(f"{name:22} writes {writes:10.0f}/s   reads {reads:9.0f}/s   on disk {megabytes:7.1f} MB")
    print(f"rocksdict / sqlite     writes {rocks[0] / lite[0]:.1f}x   reads {rocks[1] / lite[1]:.1f}x")


if __name__ == "__main__":
    main()

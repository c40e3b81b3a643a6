"""`franz dlq list` and `franz dlq replay` on the real broker, with a real aufbereitung."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from franz import contracts
from franz.runtime.dlq import REPLAY_HEADER
from tests.helpers import FRANZ, read_topic, wait_until
from tests.integration.test_aufbereitung import VALID, Pipeline, pipeline  # noqa: F401 - the fixture

TICKETS = 20


def franz(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRANZ, *args], capture_output=True, text=True, timeout=120, check=True)


def test_letters_of_a_too_strict_limit_are_replayed_once_and_all_formatted(
    pipeline: Pipeline,  # noqa: F811 - the fixture
    new_topic: Callable[..., str],
) -> None:
    pipeline.dlq = new_topic("dlq")
    bootstrap = pipeline.bootstrap
    messages = [f"my printer number {i} is on fire" for i in range(TICKETS)]
    values = [
        contracts.encode({**VALID, "message": text, "source_id": f"test:{i}"})
        for i, text in enumerate(messages)
    ]
    blank = contracts.encode({**VALID, "message": "   "})  # no limit makes this one valid
    pipeline.produce([*values, blank], keys=[f"test:{i}".encode() for i in range(TICKETS)] + [None])

    strict = pipeline.start(MESSAGE_MAX_CHARS="10")
    read_topic(bootstrap, pipeline.dlq, expected=TICKETS + 1)
    wait_until(lambda: pipeline.committed() == TICKETS + 1)
    strict.stop()

    listed = franz("dlq", "list", pipeline.dlq, "--error-type", "validation_error", "--bootstrap", bootstrap)
    lines = listed.stdout.splitlines()
    assert len(lines) == TICKETS + 1
    assert f"from {pipeline.source}/" in lines[0]
    assert "the limit is 10" in listed.stdout

    pipeline.start()  # the limit raised to the contract's
    dry = json.loads(
        franz("dlq", "replay", pipeline.dlq, "--dry-run", "--bootstrap", bootstrap).stdout.splitlines()[-1]
    )
    assert dry == {"selected": TICKETS + 1, "already_replayed": 0, "replayed": 0, "dry_run": True}
    replay = franz("dlq", "replay", pipeline.dlq, "--bootstrap", bootstrap)
    assert json.loads(replay.stdout) == {
        "selected": TICKETS + 1,
        "already_replayed": 0,
        "replayed": TICKETS + 1,
        "dry_run": False,
    }
    assert f"replaying: {TICKETS + 1}/{TICKETS + 1}" in replay.stderr

    formatted = read_topic(bootstrap, pipeline.target, expected=TICKETS)
    tickets = [json.loads(record.value) for record in formatted]
    assert sorted(ticket["body"] for ticket in tickets) == sorted(messages)
    assert {ticket["ticket_id"] for ticket in tickets} == {
        contracts.ticket_id_for(f"test:{i}") for i in range(TICKETS)
    }
    again = [json.loads(record.value) for record in read_topic(bootstrap, pipeline.dlq, expected=TICKETS + 2)]
    [blank_offset] = [
        offset for offset, letter in enumerate(again[: TICKETS + 1]) if "is empty" in letter["error"]
    ]
    [refailed] = again[TICKETS + 1 :]
    assert refailed["replay_of"] == f"{pipeline.dlq}/0/{blank_offset}"
    assert "is empty" in refailed["error"]

    # Twice: the originals' replays are on their partitions already; only the new letter goes back.
    second = json.loads(franz("dlq", "replay", pipeline.dlq, "--bootstrap", bootstrap).stdout)
    assert (second["selected"], second["already_replayed"], second["replayed"]) == (
        TICKETS + 2,
        TICKETS + 1,
        1,
    )
    read_topic(bootstrap, pipeline.dlq, expected=TICKETS + 3)
    assert len(read_topic(bootstrap, pipeline.target, expected=TICKETS)) == TICKETS, "nothing formatted twice"
    intake = read_topic(bootstrap, pipeline.source, expected=2 * TICKETS + 3)
    replayed = [record for record in intake if any(name == REPLAY_HEADER for name, _ in record.headers)]
    assert len(replayed) == TICKETS + 2
    originals = {record.value: record.key for record in intake if record not in replayed}
    assert all(originals[record.value] == record.key for record in replayed), "original bytes and key"

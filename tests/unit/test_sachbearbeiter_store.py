"""The store's pure parts: the fold with offsets (a restored state is not folded twice), the ledger's
bounded memory, the store's keys and pages on a real RocksDB in a temporary directory, checkpoints in
commit metadata, the read API's client helpers, and the bot's bounded cache."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from franz import contracts
from franz.exceptions import ConfigError
from franz.runtime.ticketsapi import instances, parse_urls
from franz.sachbearbeiter import core, eventlog
from franz.sachbearbeiter.core import Ledger, Ticket
from franz.sachbearbeiter.store import PartitionsChanged, TicketStore, decode_ticket, encode_ticket
from tests.unit.test_sachbearbeiter_core import command, formatted, ledger_with_ticket, run


def test_a_restored_ticket_skips_the_events_its_state_already_holds() -> None:
    live = ledger_with_ticket()
    assigned = run(live, command("assign", assignee={"id": "discord:8", "name": "kim"}))
    commented = run(live, command("comment", text="on it"))
    [(ticket_id, ticket)] = live.take_dirty().items()
    # The state record was written after the assignment (event at offset 1), before the comment (offset 2).
    restored = Ledger()
    holds = Ticket(state={**ticket.state, "comments": 0, "version": 2}, offset=1, history=[0, 1])
    restored.restored(ticket_id, holds)
    assert restored.apply(assigned, 1) is None, "already in the state"
    change = restored.apply(commented, 2)
    assert change is not None
    assert change.after["comments"] == 1
    assert restored.tickets[ticket_id].history == [0, 1, 2]
    assert restored.counts == Counter({("assigned", "normal", "bug"): 1})


def test_a_state_topic_not_yet_compacted_counts_each_ticket_once() -> None:
    ledger = Ledger()
    state = ledger_with_ticket().tickets[formatted()["ticket_id"]].state
    ledger.restored(state["ticket_id"], Ticket(state))
    ledger.restored(state["ticket_id"], Ticket({**state, "status": "closed"}))
    assert ledger.counts == Counter({("open", "normal", "bug"): 0, ("closed", "normal", "bug"): 1})


def test_events_about_no_ticket_are_indexed_for_its_history() -> None:
    ledger = Ledger()
    refused = core.decide(None, command("close"))
    ledger.apply(refused, 7)
    ledger.logged(refused["ticket_id"], 9)
    assert ledger.take_orphans() == {refused["ticket_id"]: [7, 9]}
    assert ledger.take_orphans() == {}


def test_memory_keeps_a_bounded_number_of_tickets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "HOT_TICKETS", 10)
    stored: dict[str, Ticket] = {}
    ledger = Ledger(stored.get)
    for n in range(50):
        ledger.apply(core.created(formatted(ticket_id=contracts.ticket_id_for(f"hot-{n}"))))
        stored.update(ledger.take_dirty())
    assert len(ledger._hot) == 10
    assert ledger.state(contracts.ticket_id_for("hot-0")) is not None, "the rest are loaded"


def test_a_ticket_record_round_trips() -> None:
    ticket = ledger_with_ticket().tickets[formatted()["ticket_id"]]
    ticket.remember("discord:1")
    ticket.history = [3, 5]
    ticket.offset = 5
    again = decode_ticket(encode_ticket(ticket))
    assert (again.state, list(again.commands), again.offset, again.history) == (
        ticket.state,
        ["discord:1"],
        5,
        [3, 5],
    )


def test_the_store_pages_partitions_in_key_order_and_drops_one_whole(tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "store", events_topic="events", partitions=3)
    base = ledger_with_ticket().tickets[formatted()["ticket_id"]].state
    ids = [contracts.ticket_id_for(f"page-{n}") for n in range(30)]
    for ticket_id in ids:
        partition = eventlog.partition_for(ticket_id, 3)
        store.write(
            partition, {ticket_id: Ticket({**base, "ticket_id": ticket_id})}, events=1, counts=Counter()
        )
    seen, after = [], None
    while True:
        page, after = store.scan({0, 1, 2}, after=after, limit=4, budget=100, match=lambda _: True)
        assert len(page) <= 4
        seen += [state["ticket_id"] for state in page]
        if after is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    short, cursor = store.scan({0, 1, 2}, after=None, limit=100, budget=5, match=lambda _: False)
    assert (short, cursor is not None) == ([], True), "a page reads at most its budget"
    store.drop(1)
    assert store.mark(1) is None
    assert all(store.ticket(1, t) is None for t in ids if eventlog.partition_for(t, 3) == 1)
    assert store.mark(0) is not None
    store.close()


def test_a_store_for_another_partition_count_is_refused(tmp_path: Path) -> None:
    TicketStore(tmp_path / "store", events_topic="events", partitions=3).close()
    with pytest.raises(PartitionsChanged, match="has 6 partitions, but its tickets were placed by 3"):
        TicketStore(tmp_path / "store", events_topic="events", partitions=6)
    other = TicketStore(tmp_path / "store", events_topic="other-events", partitions=6)
    assert other.mark(0) is None, "a store of another topic is rebuilt, not refused"
    other.close()


def test_checkpoints_round_trip_through_commit_metadata() -> None:
    metadata = eventlog.checkpoint_metadata(events=1234, partitions=3)
    assert eventlog.parse_checkpoint(metadata) == (1234, 3)
    for foreign in ("", None, "something else", "franz:events=x;partitions=3", "franz:partitions=3"):
        assert eventlog.parse_checkpoint(foreign) is None


def test_api_urls_are_parsed_and_expanded_per_address() -> None:
    assert parse_urls(" http://a:1/, https://b ") == ("http://a:1", "https://b")
    with pytest.raises(ConfigError, match="TICKETS_API_URL"):
        parse_urls("sachbearbeiter:9104")
    assert instances("http://localhost:9104") == ["http://127.0.0.1:9104"]
    assert instances("https://localhost:9104") == ["https://localhost:9104"], "TLS keeps its name"

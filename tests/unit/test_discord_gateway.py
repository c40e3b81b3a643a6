"""The emulator's gateway framing and sessions, without a socket: what discord.py's own decoder reads."""

from __future__ import annotations

import json
import zlib
from typing import Any, cast

import pytest
from discord.utils import _ZlibDecompressionContext  # the decoder discord.py uses for zlib-stream

from franz.devstack.discord_gateway import ZLIB_SUFFIX, Session, Transport


def test_zlib_stream_frames_share_one_context_and_each_ends_with_the_sync_flush_suffix() -> None:
    transport, decoder = Transport("zlib-stream"), _ZlibDecompressionContext()
    payloads: list[dict[str, Any]] = [
        {"op": 10, "d": {"heartbeat_interval": 41250}},
        {"op": 11},
        {"op": 0, "t": "READY", "s": 1},
    ]
    frames = [transport.frame(payload) for payload in payloads]
    assert all(isinstance(frame, bytes) and frame.endswith(ZLIB_SUFFIX) for frame in frames)
    assert [json.loads(decoder.decompress(cast(bytes, frame)) or "") for frame in frames] == payloads
    # One context for the connection: a later frame cannot be read on its own.
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(cast(bytes, frames[1]))


def test_without_zlib_stream_payloads_are_text_frames() -> None:
    for compress in (None, "zstd-stream"):
        assert json.loads(Transport(compress).frame({"op": 11})) == {"op": 11}
        assert isinstance(Transport(compress).frame({"op": 11}), str)


def test_a_session_numbers_its_dispatches_from_one_and_keeps_them_for_replay() -> None:
    session = Session(session_id="s")
    first = session.next_dispatch("READY", {})
    second = session.next_dispatch("INTERACTION_CREATE", {"id": "1"})
    assert (first["s"], second["s"], session.seq) == (1, 2, 2)
    assert session.sent[1:] == [second]  # what a RESUME with seq=1 replays
    assert first == {"op": 0, "t": "READY", "s": 1, "d": {}}

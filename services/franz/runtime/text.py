"""Text for people: user text shortened to one line, wherever a summary stands in for the whole."""

from __future__ import annotations

SUMMARY_CHARS = 60


def summary(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Whitespace collapsed to single spaces, cut to `limit` characters with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

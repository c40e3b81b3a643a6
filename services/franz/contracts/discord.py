"""Discord's documented message limits (DESIGN.md §7), counted in characters, and a checker for them.

absturz builds payloads within them; the local webhook refuses payloads that break them, as Discord does.
"""

from __future__ import annotations

from typing import Any

# Discord's documented limits, counted in characters.
CONTENT_MAX = 2000
EMBEDS_MAX = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000


def embed_characters(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards the 6000 total of a message's embeds."""
    fields = embed.get("fields") or []
    return (
        len(embed.get("title") or "")
        + len(embed.get("description") or "")
        + sum(len(field.get("name") or "") + len(field.get("value") or "") for field in fields)
        + len((embed.get("footer") or {}).get("text") or "")
        + len((embed.get("author") or {}).get("name") or "")
    )


def limit_violations(payload: object) -> list[str]:
    """Every documented limit the payload breaks; empty when Discord would accept it."""
    if not isinstance(payload, dict):
        return ["body is not a JSON object"]
    problems = []
    content = payload.get("content") or ""
    embeds = payload.get("embeds") or []
    if not content and not embeds:
        problems.append("cannot send an empty message")
    if len(content) > CONTENT_MAX:
        problems.append(f"content has {len(content)} characters (max {CONTENT_MAX})")
    if len(embeds) > EMBEDS_MAX:
        problems.append(f"{len(embeds)} embeds (max {EMBEDS_MAX})")
    for index, embed in enumerate(embeds):
        checks = [
            ("title", len(embed.get("title") or ""), TITLE_MAX),
            ("description", len(embed.get("description") or ""), DESCRIPTION_MAX),
            ("fields", len(embed.get("fields") or []), FIELDS_MAX),
            ("footer.text", len((embed.get("footer") or {}).get("text") or ""), FOOTER_MAX),
            ("author.name", len((embed.get("author") or {}).get("name") or ""), AUTHOR_NAME_MAX),
        ]
        for field_index, field in enumerate(embed.get("fields") or []):
            name, value = field.get("name") or "", field.get("value") or ""
            if not name or not value:
                problems.append(f"embeds.{index}.fields.{field_index}: name and value are required")
            checks.append((f"fields.{field_index}.name", len(name), FIELD_NAME_MAX))
            checks.append((f"fields.{field_index}.value", len(value), FIELD_VALUE_MAX))
        problems += [
            f"embeds.{index}.{what} is {size} (max {limit})" for what, size, limit in checks if size > limit
        ]
    total = sum(embed_characters(embed) for embed in embeds)
    if total > EMBEDS_TOTAL_MAX:
        problems.append(f"embeds total {total} characters (max {EMBEDS_TOTAL_MAX})")
    return problems

"""A value that must never be printed: webhook URLs and bot tokens are held as `Secret`."""

from __future__ import annotations


class Secret:
    """Prints as asterisks in reprs, f-strings and logs; `reveal()` is the one way to the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

"""What a database can store, checked before anything from outside (a message body) is written.

PostgreSQL refuses a NUL character in text and an integer beyond BIGINT; SQLite keeps the one
and overflows in its driver on the other. Either failure is not a rule: it would escape a
message handler as a database error, fail the whole batch and have the sender retry forever.
So such values are refused as a ``RuleViolation`` naming the field, on both databases alike
(as the HTTP API refuses them with ``nul_character`` and ``ID_MAX``).
"""

from __future__ import annotations

from jukinet.domain.errors import RuleViolation

BIGINT_MAX = 2**63 - 1
"""The largest integer the databases hold (BIGINT; SQLite's INTEGER)."""


def storable_text(value: str, field: str, *, max_length: int | None = None) -> str:
    """``value`` if a database can store it (no NUL character; at most ``max_length``
    characters where the column is that narrow)."""
    if "\x00" in value:
        raise RuleViolation(field, "nul_character", "a NUL character (U+0000) is not text")
    if max_length is not None and len(value) > max_length:
        raise RuleViolation(field, "too_long", f"at most {max_length} characters")
    return value


def storable_int(value: object, field: str, *, low: int = 0, high: int = BIGINT_MAX) -> int:
    """``value`` if it is a whole number (not a boolean, not a float) from ``low`` to
    ``high``."""
    if type(value) is not int:
        raise RuleViolation(field, "type", "must be a whole number")
    if not low <= value <= high:
        raise RuleViolation(field, "range", f"must be from {low} to {high}")
    return value

"""The one error type the domain raises: it names the field and the rule that failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class RuleViolation(ValueError):
    """Input or an event broke a domain rule.

    ``field`` names the offending input (``resident_code``, ``birth_date`` ...) and ``rule`` is a
    short stable identifier (``check_digit``, ``not_active`` ...) that callers map to messages,
    HTTP problem types or CLI output.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message} [{rule}]")
        self.field = field
        self.rule = rule
        self.message = message


def parse_each(items: list[Any], field: str, parse: Callable[[dict[str, Any]], T]) -> list[T]:
    """Each object of a list parsed; a refusal names the item and its field
    (``records[3].birth_date``), a non-object the item itself."""
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RuleViolation(f"{field}[{i}]", "type", "must be an object")
        try:
            parsed.append(parse(item))
        except RuleViolation as exc:
            raise RuleViolation(f"{field}[{i}].{exc.field}", exc.rule, exc.message) from exc
    return parsed

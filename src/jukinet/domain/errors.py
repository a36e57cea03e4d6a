"""The one error type the domain raises: it names the field and the rule that failed."""

from __future__ import annotations


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

"""Identifiers: resident code (住民票コード), local government code (地方公共団体コード), My Number.

Every check-digit formula lives here once. The resident code's statutory formula (a 2002
ministry notice) is unverified in public sources; this project applies the My Number scheme to
10 digits, as documented in DOMAIN.md §3.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from random import Random

from jukinet.domain.errors import RuleViolation

RESIDENT_CODE_LENGTH = 11
LG_CODE_LENGTH = 6
MY_NUMBER_LENGTH = 12


def _digits(field: str, value: str, length: int) -> str:
    if not isinstance(value, str):
        raise RuleViolation(field, "type", f"must be a string of {length} digits")
    if len(value) != length:
        raise RuleViolation(field, "length", f"must be {length} digits, got {len(value)}")
    if not (value.isascii() and value.isdigit()):
        raise RuleViolation(field, "digits", f"must contain only the digits 0-9: {value!r}")
    return value


def _mod11_check(weighted_sum: int) -> int:
    r = weighted_sum % 11
    return 0 if r <= 1 else 11 - r


def resident_code_check_digit(body: str) -> int:
    """Check digit of a 10-digit resident-code body.

    With P(n) the n-th digit from the right (n = 1..10) and Q(n) = n+1 for n <= 6, n-5 for
    n >= 7: r = sum(P(n)·Q(n)) mod 11; check = 0 if r <= 1 else 11 - r.
    """
    _digits("resident_code", body, RESIDENT_CODE_LENGTH - 1)
    total = 0
    for n, ch in enumerate(reversed(body), start=1):
        q = n + 1 if n <= 6 else n - 5
        total += int(ch) * q
    return _mod11_check(total)


def validate_resident_code(value: str, field: str = "resident_code") -> str:
    """Return ``value`` if it is a valid resident code, else raise naming the failed rule."""
    _digits(field, value, RESIDENT_CODE_LENGTH)
    expected = resident_code_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise RuleViolation(
            field, "check_digit", f"check digit of {value} should be {expected}, not {value[-1]}"
        )
    return value


def make_resident_code(body: str) -> str:
    """Append the check digit to a 10-digit body."""
    return body + str(resident_code_check_digit(body))


def lg_code_check_digit(body: str) -> int:
    """Check digit of a 5-digit JIS X 0402 body: (11 - sum(d·(6,5,4,3,2)) mod 11) mod 10."""
    _digits("lg_code", body, LG_CODE_LENGTH - 1)
    total = sum(int(d) * w for d, w in zip(body, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def validate_lg_code(value: str, field: str = "lg_code") -> str:
    """Return ``value`` if it is a well-formed local government code (format and check digit)."""
    _digits(field, value, LG_CODE_LENGTH)
    prefecture = int(value[:2])
    if not 1 <= prefecture <= 47:
        raise RuleViolation(field, "prefecture", f"prefecture part {value[:2]} is not 01-47")
    expected = lg_code_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise RuleViolation(
            field, "check_digit", f"check digit of {value} should be {expected}, not {value[-1]}"
        )
    return value


def make_lg_code(body: str) -> str:
    """Append the check digit to a 5-digit body (2-digit prefecture + 3-digit municipality)."""
    return body + str(lg_code_check_digit(body))


def my_number_check_digit(body: str) -> int:
    """Check digit of an 11-digit My Number body: weights 6,5,4,3,2,7,6,5,4,3,2 left to right."""
    _digits("my_number", body, MY_NUMBER_LENGTH - 1)
    weights = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    return _mod11_check(sum(int(d) * w for d, w in zip(body, weights, strict=True)))


def validate_my_number(value: str, field: str = "my_number") -> str:
    """Return ``value`` if it is a valid My Number (validation only; 2015 scope)."""
    _digits(field, value, MY_NUMBER_LENGTH)
    expected = my_number_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise RuleViolation(
            field, "check_digit", f"check digit of {value} should be {expected}, not {value[-1]}"
        )
    return value


def draw_resident_codes(rng: Random, count: int, exclude: Iterable[str] = ()) -> list[str]:
    """Draw ``count`` distinct random resident codes, none of them in ``exclude``.

    Codes carry no meaning: 10 uniformly random digits plus the check digit. The caller (the
    national center's pool allocator) supplies every code ever designated as ``exclude`` so a
    code is never handed out twice.
    """
    if count < 0:
        raise RuleViolation("count", "range", f"count must be >= 0, got {count}")
    if count == 0:
        return []  # the loop below would never stop
    taken = set(exclude)
    out: list[str] = []
    for code in _random_codes(rng):
        if code not in taken:
            taken.add(code)
            out.append(code)
            if len(out) == count:
                break
    return out


def _random_codes(rng: Random) -> Iterator[str]:
    while True:
        yield make_resident_code(f"{rng.randrange(10**10):010d}")

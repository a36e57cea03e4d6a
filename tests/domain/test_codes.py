"""Check digits of the resident code, lg code and My Number, against independent oracles.

Each oracle restates DOMAIN.md §3 in a different form from codes.py (explicit left-to-right
weights instead of the right-to-left n-th digit rule), so a slip in either shows up.
"""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.codes import (
    draw_resident_codes,
    lg_code_check_digit,
    make_lg_code,
    make_resident_code,
    my_number_check_digit,
    resident_code_check_digit,
    validate_lg_code,
    validate_my_number,
    validate_resident_code,
)
from jukinet.domain.errors import RuleViolation


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def mod11(body: str, weights: tuple[int, ...]) -> int:
    r = sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    return 0 if r <= 1 else 11 - r


def resident_oracle(body: str) -> int:
    # Q(n) for n = 10..1 (left to right): n-5 for n >= 7, n+1 for n <= 6.
    return mod11(body, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))


def my_number_oracle(body: str) -> int:
    # Official form: n-th digit from the right, Q(n) = n+1 (n <= 6), n-5 (n >= 7).
    total = 0
    for n, d in enumerate(reversed(body), start=1):
        total += int(d) * (n + 1 if n <= 6 else n - 5)
    r = total % 11
    return 0 if r <= 1 else 11 - r


def lg_oracle(body: str) -> int:
    total = sum(int(d) * w for d, w in zip(body, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


@given(digits(10))
def test_resident_check_digit_matches_oracle(body: str) -> None:
    assert resident_code_check_digit(body) == resident_oracle(body)


@given(digits(11))
def test_my_number_check_digit_matches_oracle(body: str) -> None:
    assert my_number_check_digit(body) == my_number_oracle(body)


@given(digits(5))
def test_lg_check_digit_matches_oracle(body: str) -> None:
    assert lg_code_check_digit(body) == lg_oracle(body)


def test_documented_examples() -> None:
    assert make_resident_code("2472705960") == "24727059608"
    assert validate_my_number("983205673214") == "983205673214"
    assert validate_my_number("123456789018") == "123456789018"
    for code in ("131016", "011002", "011011", "271004", "130001"):
        assert validate_lg_code(code) == code
        assert make_lg_code(code[:5]) == code


@given(digits(10))
def test_made_resident_code_validates_and_every_other_check_digit_fails(body: str) -> None:
    code = make_resident_code(body)
    assert code[:10] == body
    assert validate_resident_code(code) == code
    for wrong in "0123456789":
        if wrong != code[-1]:
            with pytest.raises(RuleViolation) as err:
                validate_resident_code(body + wrong)
            assert (err.value.field, err.value.rule) == ("resident_code", "check_digit")


@given(st.integers(min_value=1, max_value=47), digits(3))
def test_made_lg_code_validates_and_every_other_check_digit_fails(pref: int, rest: str) -> None:
    body = f"{pref:02d}{rest}"
    code = make_lg_code(body)
    assert validate_lg_code(code) == code
    for wrong in "0123456789":
        if wrong != code[-1]:
            with pytest.raises(RuleViolation) as err:
                validate_lg_code(body + wrong)
            assert err.value.rule == "check_digit"


@given(digits(11))
def test_my_number_every_other_check_digit_fails(body: str) -> None:
    good = str(my_number_check_digit(body))
    assert validate_my_number(body + good) == body + good
    for wrong in "0123456789":
        if wrong != good:
            with pytest.raises(RuleViolation):
                validate_my_number(body + wrong)


@given(digits(10), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
def test_single_digit_error_detected_unless_remainder_moves_between_0_and_1(
    body: str, position: int, delta: int
) -> None:
    """The weights are all coprime to 11, so a substituted digit always changes r; it slips
    through only when r moves between 0 and 1, which share the check digit 0."""
    code = make_resident_code(body)
    changed = body[:position] + str((int(body[position]) + delta) % 10) + body[position + 1 :]
    weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

    def remainder(b: str) -> int:
        return sum(int(d) * w for d, w in zip(b, weights, strict=True)) % 11

    assert remainder(changed) != remainder(body)
    slips = {remainder(changed), remainder(body)} == {0, 1}
    if slips:
        assert validate_resident_code(changed + code[-1])
    else:
        with pytest.raises(RuleViolation):
            validate_resident_code(changed + code[-1])


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("2472705960", "length"),
        ("247270596080", "length"),
        ("2472705960a", "digits"),
        ("２４７２７０５９６０８", "digits"),  # full-width digits are not accepted
        (24727059608, "type"),
    ],
)
def test_resident_code_format_rules(value: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        validate_resident_code(value)
    assert (err.value.field, err.value.rule) == ("resident_code", rule)


@pytest.mark.parametrize(("value", "rule"), [("001234", "prefecture"), ("481001", "prefecture")])
def test_lg_code_prefecture_range(value: str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        validate_lg_code(value, field="municipality")
    assert (err.value.field, err.value.rule) == ("municipality", rule)


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=50))
def test_drawn_codes_are_valid_distinct_and_reproducible(seed: int, count: int) -> None:
    codes = draw_resident_codes(Random(seed), count)
    assert len(codes) == len(set(codes)) == count
    assert all(validate_resident_code(c) == c for c in codes)
    assert draw_resident_codes(Random(seed), count) == codes


@given(st.integers(min_value=0, max_value=2**32))
def test_drawn_codes_skip_excluded(seed: int) -> None:
    first = draw_resident_codes(Random(seed), 5)
    again = draw_resident_codes(Random(seed), 5, exclude=first[:3])
    assert not set(again) & set(first[:3])
    assert again[:2] == first[3:]


def test_draw_zero_returns_empty_and_negative_is_refused() -> None:
    assert draw_resident_codes(Random(1), 0) == []
    with pytest.raises(RuleViolation) as err:
        draw_resident_codes(Random(1), -1)
    assert err.value.rule == "range"

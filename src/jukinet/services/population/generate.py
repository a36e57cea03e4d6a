"""Seeded, vectorised synthetic population of one municipality.

Households first (shape, head's age and sex, address, surname, when they moved in), then their
members, whose ages are drawn from the 2014 age pyramid truncated to a window that keeps the
household coherent (a child is 18-45 years younger than the head, a parent 20-45 years older).
Every step draws whole columns with numpy and builds strings with pyarrow compute; only
per-unique-value work (search keys, the foreign minority's documents) runs in Python.

The result is a pure function of (lg_code, residents, seed, as_of): the same arguments give
the same people, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from jukinet.domain.codes import validate_lg_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.register import EntryStatus, ResidentKind
from jukinet.services.population import tables as t
from jukinet.services.population.sources import Town, all_towns, municipality_towns, name_tables

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

IDEOGRAPHIC_SPACE = "\u3000"
FOREIGN_REGISTER_START = np.datetime64("2012-07-09")  # foreign residents entered the register
_KANJI_DIGITS = "〇一二三四五六七八九"
KEY_SAMPLE = 2000
_RESIDENT_CODE_WEIGHTS = np.array([2, 3, 4, 5, 6, 7, 2, 3, 4, 5], dtype=np.int64)  # n = 1..10
_POWERS_OF_TEN = 10 ** np.arange(10, dtype=np.int64)

FRAME_SCHEMA = pa.schema(
    [
        ("lg_code", pa.string()),
        ("resident_code", pa.string()),
        ("status", pa.string()),
        ("name", pa.string()),
        ("name_kana", pa.string()),
        ("alias", pa.string()),
        ("former_surname", pa.string()),
        ("name_key", pa.string()),
        ("birth_date", pa.date32()),
        ("sex", pa.string()),
        ("address", pa.string()),
        ("address_key", pa.string()),
        ("household_index", pa.int64()),
        ("relationship", pa.string()),
        ("registered_domicile", pa.string()),
        ("kind", pa.string()),
        ("nationality", pa.string()),
        ("foreign_category", pa.string()),
        ("residence_status", pa.string()),
        ("period_of_stay", pa.string()),
        ("stay_expiry", pa.date32()),
        ("residence_card_number", pa.string()),
        ("foreign_resident_since", pa.date32()),
        ("entry_date", pa.date32()),
        ("previous_address", pa.string()),
        ("previous_lg_code", pa.string()),
        ("destination_address", pa.string()),
        ("destination_lg_code", pa.string()),
        ("change_reason", pa.string()),
        ("change_date", pa.date32()),
        ("version", pa.int32()),
    ]
)
"""Columns of a generated population: the register items, with ``household_index`` (0-based
within the frame) in place of the household number, which the loader assigns."""


@dataclass(frozen=True, slots=True)
class PopulationFrame:
    """A generated population, columnar, ready for a set-based load."""

    lg_code: str
    seed: int
    as_of: date
    households: int
    table: pa.Table

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def equals(self, other: PopulationFrame) -> bool:
        return (self.lg_code, self.seed, self.as_of, self.households) == (
            other.lg_code,
            other.seed,
            other.as_of,
            other.households,
        ) and self.table.equals(other.table)


def resident_codes_from_bodies(bodies: IntArray) -> IntArray:
    """Append the check digit to 10-digit bodies, vectorised (same formula as ``codes``)."""
    digits = (bodies[:, None] // _POWERS_OF_TEN) % 10  # column n-1 holds P(n), from the right
    r = (digits * _RESIDENT_CODE_WEIGHTS).sum(axis=1) % 11
    check = np.where(r <= 1, 0, 11 - r)
    return np.asarray(bodies * 10 + check, dtype=np.int64)


def format_codes(codes: IntArray) -> pa.Array:
    """11-digit zero-padded strings of integer resident codes."""
    return pc.utf8_lpad(pa.array(codes).cast(pa.string()), width=11, padding="0")


def draw_resident_codes(rng: np.random.Generator, count: int) -> IntArray:
    """``count`` distinct random resident codes (as integers), in draw order."""
    out = np.empty(0, dtype=np.int64)
    while out.size < count:
        more = rng.integers(0, 10**10, size=count - out.size + 64, dtype=np.int64)
        pool = np.concatenate([out, more])
        _, first = np.unique(pool, return_index=True)
        out = pool[np.sort(first)]
    return resident_codes_from_bodies(out[:count])


def generate_population(lg_code: str, residents: int, seed: int, *, as_of: date) -> PopulationFrame:
    """Generate ``residents`` people living in ``lg_code`` on ``as_of``.

    Raises ``RuleViolation`` for a malformed or unknown lg code or a count below one.
    """
    validate_lg_code(lg_code)
    if isinstance(residents, bool) or not isinstance(residents, int) or residents < 1:
        raise RuleViolation("residents", "positive", f"must be a whole number ≥ 1: {residents!r}")
    place = municipality_towns(lg_code)
    rng = np.random.default_rng([seed & (2**63 - 1), int(lg_code), residents])
    return _Generator(rng, lg_code, place.towns, residents, np.datetime64(as_of, "D")).run(
        seed, as_of
    )


def _pick(rng: np.random.Generator, p: Sequence[float] | npt.NDArray[Any], n: int) -> IntArray:
    weights = np.asarray(p, dtype=np.float64)
    cdf = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1).astype(
        np.int64
    )


def _age_cdfs() -> npt.NDArray[np.float64]:
    """cdf[sex, a] = P(age < a) for a = 0..MAX_AGE+1 (sex 0 male, 1 female)."""
    out = np.zeros((2, t.MAX_AGE + 2))
    for s, bands in enumerate((t.AGE_BANDS_MALE, t.AGE_BANDS_FEMALE)):
        per_year = np.repeat(np.asarray(bands[:-1], dtype=np.float64) / 5, 5)
        last = np.full(t.MAX_AGE + 1 - per_year.size, bands[-1] / (t.MAX_AGE + 1 - per_year.size))
        weights = np.concatenate([per_year, last])
        out[s, 1:] = np.cumsum(weights) / weights.sum()
    return out


_AGE_CDF = _age_cdfs()


def _draw_ages(rng: np.random.Generator, female: BoolArray, lo: IntArray, hi: IntArray) -> IntArray:
    """Ages from the pyramid of each person's sex, truncated to [lo, hi] (inverse CDF)."""
    sex = female.astype(np.int64)
    a = _AGE_CDF[sex, lo]
    b = _AGE_CDF[sex, hi + 1]
    x = a + rng.random(lo.size) * (b - a)
    ages = np.empty(lo.size, dtype=np.int64)
    for s in (0, 1):
        mask = sex == s
        ages[mask] = np.searchsorted(_AGE_CDF[s], x[mask], side="right") - 1
    return np.clip(ages, lo, hi)


def _strings(values: list[str] | tuple[str, ...]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _num(values: IntArray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _kanji_number(n: int) -> str:
    """一, 十, 十一, 二十三 ... (丁目 are written in kanji numerals)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens] + "十")
    return head + ("" if ones == 0 else _KANJI_DIGITS[ones])


def _katakana(hiragana: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in hiragana)


def _keys(values: pa.Array, fn: Any) -> pa.Array:
    """Apply a search-key function once per distinct value."""
    encoded = pc.dictionary_encode(values)
    dictionary = _strings([fn(v) for v in encoded.dictionary.to_pylist()])
    return dictionary.take(encoded.indices)


def _composed_or_exact(values: pa.Array, composed: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """``composed`` if it agrees with ``fn`` on an evenly spaced sample, else ``fn`` per value.

    Search keys cost ≈20 µs each; a million distinct names would take 20 s. Keys are built
    from the keys of the parts (surname, given name; town + 丁目, 番地-号), which holds for
    the key rules as written (they work per character or per number). The sample guards
    against a rule change that breaks that: then every distinct value is keyed whole.
    """
    n = len(values)
    probe = np.unique(np.linspace(0, n - 1, min(n, KEY_SAMPLE)).astype(np.int64))
    taken = pa.array(probe)
    expected = [fn(v) for v in values.take(taken).to_pylist()]
    if expected == composed.take(taken).to_pylist():
        return composed
    return _keys(values, fn)


@dataclass(frozen=True, slots=True)
class _NameParts:
    surnames: pa.Array
    surname_kana: pa.Array
    surname_keys: pa.Array
    given: pa.Array  # male spellings, then female
    given_kana: pa.Array
    given_keys: pa.Array


@cache
def _name_parts() -> _NameParts:
    """Spellings, katakana readings and search keys of every name in the dataset, computed
    once per process (reference data: ≈1 s of per-name Python work otherwise redone for
    every generated population)."""
    names = name_tables()
    given_all = names.given_male + names.given_female
    return _NameParts(
        surnames=_strings(names.surnames),
        surname_kana=_strings([_katakana(r) for r in names.surname_readings]),
        surname_keys=_strings([name_search_key(v) for v in names.surnames]),
        given=_strings([g for g, _ in given_all]),
        given_kana=_strings([_katakana(r) for _, r in given_all]),
        given_keys=_strings([name_search_key(g) for g, _ in given_all]),
    )


def _valid_or_null(values: pa.Array, mask: BoolArray) -> pa.Array:
    return pc.if_else(pa.array(mask), values, pa.scalar(None, pa.string()))


class _Generator:
    """One generation run; attributes are whole columns (households, then persons)."""

    def __init__(
        self,
        rng: np.random.Generator,
        lg_code: str,
        towns: tuple[Town, ...],
        residents: int,
        as_of: np.datetime64,
    ) -> None:
        self.rng = rng
        self.lg_code = lg_code
        self.towns = towns
        self.n = residents
        self.as_of = as_of

    def run(self, seed: int, as_of: date) -> PopulationFrame:
        self._households()
        self._members()
        self._dates()
        columns = {
            **self._names(),
            **self._addresses(),
            **self._foreign_items(),
        }
        table = self._table(columns)
        return PopulationFrame(self.lg_code, seed, as_of, self.h, table)

    # -- households ------------------------------------------------------------------------

    def _households(self) -> None:
        rng = self.rng
        cap = self.n // 2 + 16
        while True:
            foreign = rng.random(cap) < self._foreign_household_share()
            kind = np.where(
                foreign,
                _pick(rng, t.HOUSEHOLD_TYPES_FOREIGN, cap),
                _pick(rng, t.HOUSEHOLD_TYPES_NATIONAL, cap),
            )
            kids = np.select(
                [kind == t.COUPLE_KIDS, kind == t.SINGLE_PARENT, kind == t.THREE_GEN],
                [
                    _pick(rng, t.CHILDREN_COUPLE, cap),
                    _pick(rng, t.CHILDREN_SINGLE_PARENT, cap),
                    _pick(rng, t.CHILDREN_THREE_GEN, cap),
                ],
                0,
            )
            parents = np.where(kind == t.THREE_GEN, _pick(rng, t.PARENTS_THREE_GEN, cap), 0)
            spouse = np.isin(kind, (t.COUPLE, t.COUPLE_KIDS, t.THREE_GEN)).astype(np.int64)
            size = 1 + spouse + kids + parents
            ends = np.cumsum(size)
            if ends[-1] >= self.n:
                break
            cap *= 2
        h = int(np.searchsorted(ends, self.n)) + 1
        self.h = h
        self.hh_kind = kind[:h]
        self.hh_foreign = foreign[:h]
        self.hh_kids = kids[:h]
        self.hh_parents = parents[:h]
        self.hh_spouse = spouse[:h]
        size = size[:h].copy()
        size[-1] -= int(ends[h - 1]) - self.n  # the last household is cut to fit exactly
        self.hh_size = size
        male_share = np.array([t.HEAD_MALE_SHARE[k] for k in range(5)])
        self.hh_head_female = rng.random(h) >= male_share[self.hh_kind]
        lo = np.array([t.HEAD_AGE[k][0] for k in range(5)])[self.hh_kind]
        hi = np.array([t.HEAD_AGE[k][1] for k in range(5)])[self.hh_kind]
        elderly = np.array([t.HEAD_ELDERLY_SHARE[k] for k in range(5)])[self.hh_kind]
        lo = np.where(rng.random(h) < elderly, np.maximum(lo, 65), lo)
        self.hh_head_age = _draw_ages(rng, self.hh_head_female, lo, hi)
        self.hh_nationality = _pick(rng, [w for _, w, _ in t.NATIONALITIES], h)
        special_share = np.array([s for _, _, s in t.NATIONALITIES])[self.hh_nationality]
        self.hh_special = self.hh_foreign & (rng.random(h) < special_share)

    def _foreign_household_share(self) -> float:
        """Share of foreign households that makes ≈ FOREIGN_SHARE of persons foreign."""
        national, foreign = (
            self._mean_size(t.HOUSEHOLD_TYPES_NATIONAL),
            self._mean_size(t.HOUSEHOLD_TYPES_FOREIGN),
        )
        s = t.FOREIGN_SHARE
        return s * national / (foreign * (1 - s) + s * national)

    @staticmethod
    def _mean_size(types: tuple[float, ...]) -> float:
        def mean(p: tuple[float, ...]) -> float:
            return float(sum(k * q for k, q in enumerate(p)))

        sizes = (
            1.0,
            2.0,
            2 + mean(t.CHILDREN_COUPLE),
            1 + mean(t.CHILDREN_SINGLE_PARENT),
            2 + mean(t.CHILDREN_THREE_GEN) + mean(t.PARENTS_THREE_GEN),
        )
        return sum(p * s for p, s in zip(types, sizes, strict=True)) / sum(types)

    # -- members ---------------------------------------------------------------------------

    def _members(self) -> None:
        rng, n = self.rng, self.n
        hh = np.repeat(np.arange(self.h), self.hh_size)
        starts = np.cumsum(self.hh_size) - self.hh_size
        pos = np.arange(n) - starts[hh]
        spouse = self.hh_spouse[hh]
        kids = self.hh_kids[hh]
        parents = self.hh_parents[hh]
        head_female = self.hh_head_female[hh]
        head_age = self.hh_head_age[hh]
        # Roles by position: head, spouse, children, parents of the head.
        is_head = pos == 0
        is_spouse = (pos == 1) & (spouse == 1)
        is_child = ~is_head & ~is_spouse & (pos < 1 + spouse + kids)
        is_parent = ~is_head & ~is_spouse & ~is_child
        parent_no = pos - (1 + spouse + kids)  # 0 or 1
        lone_father = rng.random(n) < 0.3
        female = np.select(
            [is_head, is_spouse, is_child, is_parent & (parents == 2)],
            [head_female, ~head_female, rng.random(n) < 0.488, parent_no == 1],
            ~lone_father,
        )
        # Spouse: a few years younger or older than the head; children: 18-45 years younger
        # than both parents; parents of the head: 20-45 years older.
        hf, ha = self.hh_head_female, self.hh_head_age
        sp_lo = np.maximum(18, np.where(hf, ha - 3, ha - 8))
        sp_hi = np.minimum(t.MAX_AGE, np.where(hf, ha + 8, ha + 3))
        spouse_age_hh = ha.copy()
        sp = self.hh_spouse == 1
        spouse_age_hh[sp] = _draw_ages(rng, ~hf[sp], sp_lo[sp], sp_hi[sp])
        spouse_age = spouse_age_hh[hh]
        younger = np.minimum(head_age, spouse_age)
        older = np.maximum(head_age, spouse_age)
        lo = np.select(
            [is_head | is_spouse, is_child, is_parent],
            [head_age, np.maximum(0, older - 45), np.minimum(head_age + 20, t.MAX_AGE)],
        )
        hi = np.select(
            [is_head | is_spouse, is_child, is_parent],
            [head_age, np.maximum(0, younger - 18), np.minimum(head_age + 45, t.MAX_AGE)],
        )
        age = _draw_ages(rng, female, lo, hi)
        age = np.where(is_spouse, spouse_age, age)
        self.hh = hh
        self.female = female
        self.age = age
        relationship = np.select(
            [is_head, is_spouse & female, is_spouse, is_child, is_parent & female],
            [0, 1, 2, 3, 4],
            5,
        )
        self.relationship = _strings(("世帯主", "妻", "夫", "子", "母", "父")).take(
            pa.array(relationship)
        )
        self.is_spouse = is_spouse
        self.is_head = is_head
        self.foreign = self.hh_foreign[hh]

    # -- dates and change ------------------------------------------------------------------

    def _dates(self) -> None:
        rng, n, h = self.rng, self.n, self.h
        days_into_year = np.floor(rng.random(n) * 365.2425).astype(np.int64)
        back = np.floor(self.age * 365.2425).astype(np.int64) + days_into_year
        self.birth = self.as_of - back.astype("timedelta64[D]")
        # The household moved in on one day (exponential, mean 10 years for nationals and 4
        # for foreign residents), never before the head turned 18.
        mean_years = np.where(self.hh_foreign, 4.0, 10.0)
        max_days = np.maximum(1, (self.hh_head_age - 18) * 365)
        since_days = np.clip(
            np.floor(rng.exponential(mean_years * 365.2425)).astype(np.int64) + 1, 1, max_days
        )
        self.hh_since = self.as_of - since_days.astype("timedelta64[D]")
        since = self.hh_since[self.hh]
        born_here = self.birth > since
        self.entry = np.where(born_here, self.birth, since)
        # Special permanent residents have lived in Japan for generations.
        abroad_share = np.where(self.hh_foreign, 0.5, t.BORN_ABROAD_NATIONAL)
        from_abroad_hh = (rng.random(h) < abroad_share) & ~self.hh_special
        from_abroad = from_abroad_hh[self.hh] & ~born_here
        reason = np.where(born_here, 0, np.where(from_abroad, 2, 1))
        self.change_reason = _strings(
            (ChangeReason.BIRTH.value, ChangeReason.MOVE_IN.value, ChangeReason.MOVE_IN_FROM_ABROAD)
        ).take(pa.array(reason))
        self.moved_in = reason == 1
        self.reason = reason

    # -- names -----------------------------------------------------------------------------

    def _names(self) -> dict[str, pa.Array]:
        rng, n = self.rng, self.n
        names = name_tables()
        parts = _name_parts()
        surname_hh = _pick(rng, np.asarray(names.surname_counts, dtype=np.float64), self.h)
        surname_idx = pa.array(surname_hh[self.hh])
        given_idx = np.empty(n, dtype=np.int64)
        given_tables = (names.given_male, names.given_female)
        given_offsets = (0, len(names.given_male))
        for s, table in enumerate(given_tables):
            mask = self.female == bool(s)
            given_idx[mask] = given_offsets[s] + _pick(
                rng, _spelling_weights(table), int(mask.sum())
            )
        given_all = names.given_male + names.given_female
        given = pa.array(given_idx)
        name = pc.binary_join_element_wise(
            parts.surnames.take(surname_idx), parts.given.take(given), IDEOGRAPHIC_SPACE
        )
        kana = pc.binary_join_element_wise(
            parts.surname_kana.take(surname_idx), parts.given_kana.take(given), IDEOGRAPHIC_SPACE
        )
        key = pc.binary_join_element_wise(
            parts.surname_keys.take(surname_idx), parts.given_keys.take(given), ""
        )
        alias = pa.nulls(n, pa.string())
        fidx = np.flatnonzero(self.foreign)
        if fidx.size:
            fname, fkana, falias = self._foreign_names(fidx, names.surnames, given_all)
            mask = pa.array(self.foreign)
            name = pc.replace_with_mask(name, mask, fname)
            kana = pc.replace_with_mask(kana, mask, fkana)
            alias = pc.replace_with_mask(alias, mask, falias)
            key = pc.replace_with_mask(key, mask, _keys(fname, name_search_key))
        return {
            "name": name,
            "name_kana": kana,
            "alias": alias,
            "name_key": _composed_or_exact(name, key, name_search_key),
        }

    def _foreign_names(
        self,
        fidx: IntArray,
        japanese_surnames: tuple[str, ...],
        japanese_given: tuple[tuple[str, str], ...],
    ) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Names of the foreign minority (≈1.6%), per nationality; small enough for Python."""
        rng = self.rng
        hh_nat, hh_special = self.hh_nationality, self.hh_special
        hh_surname = rng.integers(0, 1 << 30, self.h)
        own_surname = rng.integers(0, 1 << 30, self.n)  # spouses may keep their own surname
        keeps_own = rng.random(self.n) < 0.5
        given_pick = rng.integers(0, 1 << 30, self.n)
        alias_given = rng.integers(0, len(japanese_given), self.n)
        alias_surname = rng.integers(0, len(japanese_surnames), self.h)
        wants_alias = rng.random(self.n) < 0.6
        names: list[str] = []
        kanas: list[str] = []
        aliases: list[str | None] = []
        for i in fidx.tolist():
            house = int(self.hh[i])
            nationality = t.NATIONALITIES[hh_nat[house]][0]
            surnames, givens = t.FOREIGN_NAMES[nationality]
            pick = own_surname[i] if self.is_spouse[i] and keeps_own[i] else hh_surname[house]
            surname, surname_kana = surnames[pick % len(surnames)]
            own_sex = [g for g in givens if g[2] == int(self.female[i])]
            given, given_kana, _ = own_sex[given_pick[i] % len(own_sex)]
            latin = surname.isascii()
            names.append(f"{surname}{' ' if latin else IDEOGRAPHIC_SPACE}{given}")
            kanas.append(f"{surname_kana}{IDEOGRAPHIC_SPACE}{given_kana.replace(' ', '・')}")
            # Special permanent residents often use a registered Japanese alias (通称).
            if hh_special[house] and wants_alias[i]:
                alias = japanese_surnames[alias_surname[house]]
                aliases.append(f"{alias}{IDEOGRAPHIC_SPACE}{japanese_given[alias_given[i]][0]}")
            else:
                aliases.append(None)
        return _strings(names), _strings(kanas), pa.array(aliases, type=pa.string())

    # -- addresses -------------------------------------------------------------------------

    def _addresses(self) -> dict[str, pa.Array]:
        rng, h = self.rng, self.h
        towns = self.towns
        town = rng.integers(0, len(towns), h)
        chome_max = np.array([tw.chome for tw in towns], dtype=np.int64)[town]
        chome = np.where(chome_max > 0, 1 + np.floor(rng.random(h) * chome_max), 0).astype(np.int64)
        banchi = 1 + np.floor(rng.pareto(1.2, h) * 4).astype(np.int64) % 60
        go = rng.integers(1, 31, h)
        top = int(chome_max.max(initial=0))
        chome_text = _strings(["", *(_kanji_number(c) + "丁目" for c in range(1, top + 1))])
        town_text = _strings([f"{tw.prefecture}{tw.city}{tw.name}" for tw in towns])
        town_part = pc.binary_join_element_wise(
            town_text.take(pa.array(town)), chome_text.take(pa.array(chome)), ""
        )
        number = pc.binary_join_element_wise(_num(banchi), "番地", _num(go), "")
        address_hh = pc.binary_join_element_wise(town_part, number, "")
        hh = pa.array(self.hh)
        address_key_hh = _composed_or_exact(
            address_hh,
            self._address_keys(town_text, chome_text, town, chome, number),
            address_search_key,
        )
        address = address_hh.take(hh)
        # Previous address: a town elsewhere in Japan, more often in the same prefecture.
        everywhere = all_towns()
        own_codes = {tw.lg_code for tw in towns}
        pref = self.lg_code[:2]
        near = np.array(
            [
                i
                for i, tw in enumerate(everywhere)
                if tw.lg_code[:2] == pref and tw.lg_code not in own_codes
            ]
            or [0]
        )
        far = np.array([i for i, tw in enumerate(everywhere) if tw.lg_code[:2] != pref])
        use_near = rng.random(h) < t.SAME_PREFECTURE_MOVE
        prev = np.where(
            use_near, near[rng.integers(0, near.size, h)], far[rng.integers(0, far.size, h)]
        )
        prev_text = _strings([f"{tw.prefecture}{tw.city}{tw.name}" for tw in everywhere])
        prev_codes = _strings([tw.lg_code for tw in everywhere])
        prev_banchi = 1 + rng.integers(0, 40, h)
        prev_address_hh = pc.binary_join_element_wise(
            prev_text.take(pa.array(prev)),
            _num(prev_banchi),
            "番地",
            _num(rng.integers(1, 31, h)),
            "",
        )
        moved = self.moved_in
        # 本籍 of nationals: the household's town here or where it came from.
        domicile_here = rng.random(h) < 0.4
        domicile_hh = pc.if_else(
            pa.array(domicile_here),
            pc.binary_join_element_wise(town_part, _num(banchi), "番地", ""),
            pc.binary_join_element_wise(
                prev_text.take(pa.array(prev)), _num(prev_banchi), "番地", ""
            ),
        )
        return {
            "address": address,
            "address_key": address_key_hh.take(hh),
            "previous_address": _valid_or_null(prev_address_hh.take(hh), moved),
            "previous_lg_code": _valid_or_null(prev_codes.take(pa.array(prev[self.hh])), moved),
            "registered_domicile": _valid_or_null(domicile_hh.take(hh), ~self.foreign),
        }

    @staticmethod
    def _address_keys(
        town_text: pa.Array, chome_text: pa.Array, town: IntArray, chome: IntArray, number: pa.Array
    ) -> pa.Array:
        """Address keys composed from the key of each (town, 丁目) and of each 番地-号.

        A prefix's key is read off the key of prefix + "1番地1" (the number's key depends on
        what precedes it: 一丁目 + 5番地2 → 1-5-2), so the prefix key keeps its trailing "-".
        """
        pairs = town * (len(chome_text) + 1) + chome
        unique_pairs, inverse = np.unique(pairs, return_inverse=True)
        towns, chomes = town_text.to_pylist(), chome_text.to_pylist()
        tail = address_search_key("1番地1")
        prefix_keys = []
        for pair in unique_pairs.tolist():
            tw, ch = divmod(pair, len(chome_text) + 1)
            probe = address_search_key(f"{towns[tw]}{chomes[ch]}1番地1")
            prefix_keys.append(probe[: -len(tail)] if probe.endswith(tail) else "\x00")
        encoded = pc.dictionary_encode(number)
        number_keys = _strings([address_search_key(v) for v in encoded.dictionary.to_pylist()])
        return pc.binary_join_element_wise(
            _strings(prefix_keys).take(pa.array(inverse.ravel())),
            number_keys.take(encoded.indices),
            "",
        )

    # -- foreign-resident items ------------------------------------------------------------

    def _foreign_items(self) -> dict[str, pa.Array]:
        n = self.n
        nulls = pa.nulls(n, pa.string())
        dnulls = pa.nulls(n, pa.date32())
        fidx = np.flatnonzero(self.foreign)
        if not fidx.size:
            return {
                "nationality": nulls,
                "foreign_category": nulls,
                "residence_status": nulls,
                "period_of_stay": nulls,
                "stay_expiry": dnulls,
                "residence_card_number": nulls,
                "foreign_resident_since": dnulls,
            }
        rng = self.rng
        hh = self.hh[fidx]
        special = self.hh_special[hh]
        head_status = _pick(rng, [w for _, w, _ in t.RESIDENCE_STATUSES], self.h)[hh]
        settled = head_status <= 1  # 永住者, 定住者: the family shares the status
        period_pick = rng.integers(0, 1 << 30, fidx.size)
        expiry_frac = rng.random(fidx.size)
        letters = rng.integers(0, 26, (fidx.size, 4))
        digits = rng.integers(0, 10**8, fidx.size)
        nat: list[str] = []
        cat: list[str] = []
        status: list[str | None] = []
        period: list[str | None] = []
        expiry: list[date | None] = []
        card: list[str] = []
        as_of = self.as_of.astype(date)
        for j, i in enumerate(fidx.tolist()):
            nat.append(t.NATIONALITIES[self.hh_nationality[hh[j]]][0])
            if special[j]:
                cat.append(t.SPECIAL_PERMANENT)
                status.append(None)
                period.append(None)
                expiry.append(None)
            else:
                cat.append(t.MID_LONG_TERM)
                name, _, periods = t.RESIDENCE_STATUSES[head_status[j]]
                if not (self.is_head[i] or settled[j]):
                    name, periods = t.DEPENDENT_STATUS
                status.append(name)
                if periods:
                    p = periods[period_pick[j] % len(periods)]
                    period.append(p)
                    days = 1 + int(expiry_frac[j] * t.PERIOD_DAYS[p])
                    expiry.append(as_of + np.timedelta64(days, "D").astype(object))
                else:
                    period.append(None)
                    expiry.append(None)
            a, b, c, d = (chr(65 + x) for x in letters[j])
            card.append(f"{a}{b}{digits[j]:08d}{c}{d}")

        def put(values: list[Any], typ: pa.DataType) -> pa.Array:
            full = pa.nulls(n, typ)
            return pc.replace_with_mask(full, pa.array(self.foreign), pa.array(values, type=typ))

        return {
            "nationality": put(nat, pa.string()),
            "foreign_category": put(cat, pa.string()),
            "residence_status": put(status, pa.string()),
            "period_of_stay": put(period, pa.string()),
            "stay_expiry": put(expiry, pa.date32()),
            "residence_card_number": put(card, pa.string()),
            "foreign_resident_since": pc.replace_with_mask(
                dnulls,
                pa.array(self.foreign),
                pa.array(np.maximum(self.entry[fidx], FOREIGN_REGISTER_START)).cast(pa.date32()),
            ),
        }

    # -- assembly --------------------------------------------------------------------------

    def _table(self, columns: dict[str, pa.Array]) -> pa.Table:
        n = self.n
        codes = format_codes(draw_resident_codes(self.rng, n))
        entry = pa.array(self.entry)
        kind = np.where(self.foreign, 1, 0)
        data: dict[str, pa.Array] = {
            "lg_code": pa.repeat(pa.scalar(self.lg_code), n),
            "resident_code": codes,
            "status": pa.repeat(pa.scalar(EntryStatus.ACTIVE.value), n),
            "former_surname": pa.nulls(n, pa.string()),
            "birth_date": pa.array(self.birth),
            "sex": _strings((Sex.MALE.value, Sex.FEMALE.value)).take(
                pa.array(self.female.astype(np.int64))
            ),
            "household_index": pa.array(self.hh),
            "relationship": self.relationship,
            "kind": _strings((ResidentKind.NATIONAL.value, ResidentKind.FOREIGN.value)).take(
                pa.array(kind)
            ),
            "entry_date": entry,
            "destination_address": pa.nulls(n, pa.string()),
            "destination_lg_code": pa.nulls(n, pa.string()),
            "change_reason": self.change_reason,
            "change_date": entry,
            "version": pa.repeat(pa.scalar(1, pa.int32()), n),
            **columns,
        }
        return pa.table([data[f.name].cast(f.type) for f in FRAME_SCHEMA], schema=FRAME_SCHEMA)


@cache
def _spelling_weights(table: tuple[tuple[str, str], ...]) -> npt.NDArray[np.float64]:
    """Weight of each (spelling, reading): readings with many spellings are common names, and
    within a reading short spellings (太郎) are far more usual than long ones (多朗宇).

    The dataset has no frequencies for given names; this is the project's own heuristic.
    """
    per_reading: dict[str, int] = {}
    for _, reading in table:
        per_reading[reading] = per_reading.get(reading, 0) + 1
    by_length = {1: 6.0, 2: 4.0}
    raw = np.array([by_length.get(len(s), 1.0) for s, _ in table])
    reading_total: dict[str, float] = {}
    for (_, reading), w in zip(table, raw, strict=True):
        reading_total[reading] = reading_total.get(reading, 0.0) + float(w)
    return np.array(
        [
            np.sqrt(per_reading[r]) * w / reading_total[r]
            for (_, r), w in zip(table, raw, strict=True)
        ]
    )

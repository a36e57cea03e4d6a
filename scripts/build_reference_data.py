"""Generate src/jukinet/domain/reference/data/{prefectures,municipalities}.csv once.

Run with the dev venv (``.venv/bin/python scripts/build_reference_data.py``); the CSVs are
committed and the domain reads them at run time, so ``japancode`` is needed only here.

Sources and corrections:

* municipalities, wards, kana: ``japancode`` 0.1.0 (its data includes 丹波篠山市 (2019-05-01),
  富谷市 (2016) and 那珂川市 (2018), so it is current to at least 2019) with codes
  zero-filled to 6 digits;
* 浜松市 reorganised its seven wards into three on 2024-01-01 (中区・東区・西区・南区・北区の
  三方原地区 → 中央区; 北区の残り・浜北区 → 浜名区; 天竜区 unchanged in area but given a new
  code). japancode predates it: the seven old codes (221317 … 221376) are dropped and 221384
  中央区, 221392 浜名区, 221406 天竜区 added;
* prefecture population: 2015 census (平成27年国勢調査, 人口等基本集計, 2015-10-01), which
  sums to the national 127,094,745;
* kana are stored in full-width katakana (the registry's convention for readings).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import jaconv
import japancode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from jukinet.domain.codes import make_lg_code, validate_lg_code  # noqa: E402

OUT = ROOT / "src" / "jukinet" / "domain" / "reference" / "data"
SOURCE = Path(japancode.__file__).parent / "data"
AS_OF = "2024-01-01"

POPULATION_2015 = (
    5381733, 1308265, 1279594, 2333899, 1023119, 1123891, 1914039, 2916976, 1974255, 1973115,
    7266534, 6222666, 13515271, 9126214, 2304264, 1066328, 1154008, 786740, 834930, 2098804,
    2031903, 3700305, 7483128, 1815865, 1412916, 2610353, 8839469, 5534800, 1364316, 963579,
    573441, 694352, 1921525, 2843990, 1404729, 755733, 976263, 1385262, 728276, 5101556,
    832832, 1377187, 1786170, 1166338, 1104069, 1648177, 1433566,
)  # fmt: skip
NATIONAL_2015 = 127094745

HAMAMATSU = "221309"
HAMAMATSU_OLD_WARDS = {"221317", "221325", "221333", "221341", "221350", "221368", "221376"}
HAMAMATSU_NEW_WARDS = (
    ("221384", "浜松市中央区", "はままつしちゅうおうく"),
    ("221392", "浜松市浜名区", "はままつしはまなく"),
    ("221406", "浜松市天竜区", "はままつしてんりゅうく"),
)


def katakana(text: str) -> str:
    return str(jaconv.hira2kata(text))


def build_prefectures() -> list[list[str]]:
    raw = json.loads((SOURCE / "prefectures.json").read_text(encoding="utf-8"))
    assert len(raw) == 47
    assert sum(POPULATION_2015) == NATIONAL_2015
    rows = []
    for item in sorted(raw, key=lambda x: int(x["pid"])):
        code = int(item["pid"])
        lg_code = make_lg_code(f"{code:02d}000")
        assert lg_code == item["lgcode"], (lg_code, item)
        rows.append(
            [
                f"{code:02d}",
                lg_code,
                item["pref"],
                katakana(item["prefkana"]),
                str(POPULATION_2015[code - 1]),
            ]
        )
    return rows


def build_municipalities() -> list[list[str]]:
    raw = json.loads((SOURCE / "municipalities.json").read_text(encoding="utf-8"))
    entries: list[tuple[str, str, str, str]] = []  # lg_code, city, ward or "", kana
    for item in raw:
        lg_code = validate_lg_code(item["lgcode"].zfill(6))
        if lg_code in HAMAMATSU_OLD_WARDS:
            continue
        city, _, ward = item["city"].partition(" ")
        entries.append((lg_code, city, ward, item["citykana"].replace(" ", "")))
    for lg_code, name, kana in HAMAMATSU_NEW_WARDS:
        entries.append((validate_lg_code(lg_code), "浜松市", name.removeprefix("浜松市"), kana))

    city_codes = {(code[:2], city): code for code, city, ward, _ in entries if not ward}
    assert city_codes[("22", "浜松市")] == HAMAMATSU
    rows = []
    for lg_code, city, ward, kana in sorted(entries):
        pref = lg_code[:2]
        if ward:
            kind, parent, name = "ward", city_codes[(pref, city)], city + ward
        elif pref == "13" and city.endswith("区"):
            kind, parent, name = "special_ward", "", city
        else:
            kind = {"市": "city", "町": "town", "村": "village"}[city[-1]]
            parent, name = "", city
        rows.append([lg_code, name, katakana(kana), pref, kind, parent])
    return rows


def write(path: Path, comment: str, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(f"# {comment}\n")
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write(
        OUT / "prefectures.csv",
        "47 prefectures; population: 2015 census (平成27年国勢調査, 2015-10-01)",
        ["code", "lg_code", "name", "kana", "population"],
        build_prefectures(),
    )
    write(
        OUT / "municipalities.csv",
        f"municipalities and designated-city wards as of {AS_OF}; source japancode 0.1.0 "
        "with the 2024-01-01 浜松市 ward reorganisation applied",
        ["lg_code", "name", "kana", "prefecture_code", "kind", "parent_lg_code"],
        build_municipalities(),
    )


if __name__ == "__main__":
    main()

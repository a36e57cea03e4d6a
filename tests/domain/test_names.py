"""Search keys: idempotent, and blind to spacing, width and the hiragana/katakana choice."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain.names import (
    KANJI_VARIANTS,
    address_search_key,
    kana_search_key,
    name_search_key,
)

HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30FB)) + "ー"
NAME_ALPHABET = (
    HIRAGANA
    + KATAKANA
    + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    + "山田太郎渡辺邊髙高﨑崎斎藤神\ufa19吉𠮷・-"
    + "".join(KANJI_VARIANTS)
)
ADDRESS_ALPHABET = NAME_ALPHABET + "東京都新宿区一二三四五六七八九十丁目番地号町の〜−ー-"
SPACES = st.sampled_from([" ", "\u3000", "\t", "  "])

names = st.text(alphabet=NAME_ALPHABET, max_size=20)
addresses = st.text(alphabet=ADDRESS_ALPHABET, max_size=30)
anything = st.text(max_size=30)


def with_spaces(text: str, data: st.DataObject, *, avoid_digits: bool) -> str:
    """``text`` with whitespace inserted at drawn positions (optionally never between digits)."""
    out = []
    for i, ch in enumerate(text):
        between_digits = i > 0 and text[i - 1].isdigit() and ch.isdigit()
        if not (avoid_digits and between_digits) and data.draw(st.booleans()):
            out.append(data.draw(SPACES))
        out.append(ch)
    return "".join(out)


@given(anything)
def test_name_key_is_idempotent_on_any_text(text: str) -> None:
    key = name_search_key(text)
    assert name_search_key(key) == key


@given(anything)
def test_address_key_is_idempotent_on_any_text(text: str) -> None:
    key = address_search_key(text)
    assert address_search_key(key) == key


@given(addresses)
def test_address_key_is_idempotent_on_address_like_text(text: str) -> None:
    key = address_search_key(text)
    assert address_search_key(key) == key


@given(anything)
def test_keys_contain_no_whitespace(text: str) -> None:
    assert not any(ch.isspace() for ch in name_search_key(text))
    assert not any(ch.isspace() for ch in address_search_key(text))


@given(names, st.data())
def test_name_key_ignores_inserted_spaces(text: str, data: st.DataObject) -> None:
    assert name_search_key(with_spaces(text, data, avoid_digits=False)) == name_search_key(text)


@given(addresses, st.data())
def test_address_key_ignores_spaces_not_between_digits(text: str, data: st.DataObject) -> None:
    spaced = with_spaces(text, data, avoid_digits=True)
    assert address_search_key(spaced) == address_search_key(text)


@given(names)
def test_name_key_ignores_width(text: str) -> None:
    key = name_search_key(text)
    assert name_search_key(jaconv.h2z(text, kana=True, ascii=True, digit=True)) == key
    assert name_search_key(jaconv.z2h(text, kana=True, ascii=True, digit=True)) == key


@given(addresses)
def test_address_key_ignores_width_of_letters_and_digits(text: str) -> None:
    key = address_search_key(text)
    assert address_search_key(jaconv.h2z(text, kana=False, ascii=True, digit=True)) == key


@given(names)
def test_name_key_ignores_hiragana_katakana(text: str) -> None:
    key = name_search_key(text)
    assert name_search_key(jaconv.kata2hira(text)) == key
    assert name_search_key(jaconv.hira2kata(text)) == key


@given(names)
def test_name_key_ignores_latin_case(text: str) -> None:
    assert name_search_key(text.lower()) == name_search_key(text.upper())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("渡邊\u3000太郎", "渡辺 太郎"),
        ("渡邉太郎", "渡辺太郎"),
        ("\ufa19田", "\u795e田"),
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("齋藤", "斎藤"),
        ("𠮷田", "吉田"),
        ("葛\U000e0100西", "葛西"),
        ("ヤマダ タロウ", "やまだたろう"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダタロウ"),
        ("キャノン", "キヤノン"),
        ("ジョン・スミス", "じょん・すみす"),
        ("ｼﾞｮﾝ", "ジヨン"),
        ("ユ－コ", "ユーコ"),
        ("ｊｏｈｎ ｓｍｉｔｈ", "JOHN SMITH"),
    ],
)
def test_names_that_share_a_key(a: str, b: str) -> None:
    assert name_search_key(a) == name_search_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("斎藤", "斉藤"),  # different characters, not variants
        ("ユーコ", "ユウコ"),  # the long-vowel mark is kept
        ("佐藤", "左藤"),
        ("ガ", "カ"),
    ],
)
def test_names_that_stay_apart(a: str, b: str) -> None:
    assert name_search_key(a) != name_search_key(b)


def test_name_key_examples() -> None:
    assert name_search_key("渡邊　太郎") == "渡辺太郎"
    assert name_search_key("ｷｬﾉﾝ") == "キヤノン"
    assert kana_search_key("やまだ　たろう") == "ヤマダタロウ"


def test_stored_value_is_not_changed() -> None:
    name = "\ufa19田\u3000太郎"
    name_search_key(name)
    assert name == "\ufa19田\u3000太郎"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("東京都新宿区西新宿二丁目８番１号", "東京都新宿区西新宿2-8-1"),
        ("東京都 新宿区 西新宿 ２－８－１", "東京都新宿区西新宿2-8-1"),
        ("西新宿2‐8‐1", "西新宿2-8-1"),
        ("西新宿2ー8ー1", "西新宿2-8-1"),
        ("西新宿2−8−1", "西新宿2-8-1"),
        ("西新宿2丁目8-1", "西新宿2-8-1"),
        ("本町3番地", "本町3"),
        ("本町1番地の2", "本町1-2"),
        ("霞ヶ関1丁目1番1号 ABCビル 101", "霞ケ関1-1-1abcビル101"),
        ("本町1-2 101", "本町1-2-101"),
        ("本町二十三丁目4番", "本町23-4"),
    ],
)
def test_addresses_that_share_a_key(a: str, b: str) -> None:
    assert address_search_key(a) == address_search_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("本町1-2 101", "本町1-2101"),  # a space between digits separates numbers
        ("千代田区一番町1", "千代田区1-町1"),  # 一番町 is a place name, not block 1
        ("霞が関1-1", "霞ケ関1-1"),  # hiragana is not folded in addresses
        ("本町1-2", "本町1-3"),
    ],
)
def test_addresses_that_stay_apart(a: str, b: str) -> None:
    assert address_search_key(a) != address_search_key(b)


def test_address_key_examples() -> None:
    assert address_search_key("東京都新宿区西新宿二丁目８番１号") == "東京都新宿区西新宿2-8-1"
    assert address_search_key("千代田区一番町3番地") == "千代田区一番町3"
    assert address_search_key("〜ヶ丘") == "〜ケ丘"  # 〜 survives (jaconv.normalize would not)

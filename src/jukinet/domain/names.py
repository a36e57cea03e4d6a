"""Search keys for names and addresses, used only for matching.

Stored names and addresses stay exactly as received (the legal glyph matters, and even NFC
turns U+FA19 神 into U+795E). A key is derived on the side so that spellings a clerk or a
recipient would consider "the same" find each other. Keys are lossy and are never shown or
stored in place of the value.

Name key (:func:`name_search_key`), in this order:

1. drop variation selectors (IVS U+E0100–U+E01EF, U+FE00–U+FE0F): they choose a glyph, not a
   character (葛󠄀 vs 葛);
2. NFKC: full-/half-width letters, digits and half-width katakana fold, compatibility
   ideographs map to their unified form (U+FA19 神 → U+795E), combining voiced marks compose;
3. remove all whitespace (including U+3000);
4. hiragana → katakana (``jaconv.hira2kata``), small kana → large (ァ→ア, ッ→ツ, ャ→ヤ, ヮ→ワ,
   ヵ→カ, ヶ→ケ, ㇰ→ク …), so ｷｬﾉﾝ, きゃのん and キヤノン share a key;
5. a hyphen or dash right after a kana becomes the long-vowel mark ー (data entry often types
   ｰ, -, − or ― for it); ー itself is kept, since ユーコ and ユウコ are different names;
6. Latin letters upper-cased;
7. a small table of old/variant kanji → the common form (:data:`KANJI_VARIANTS`).

The steps repeat until nothing changes (normally one extra pass), so a key is a fixed point:
``key(key(x)) == key(x)``.

The kanji table is deliberately short: only variants that registry name matching treats as the
same surname character (髙/高, 﨑/崎, 邊/邉/辺, 齋/斎, 澤/沢 …) and that Unicode does not already
fold. It does not merge distinct characters that are merely similar: 斎 and 斉 stay apart (齋→斎,
齊→斉), and 竜/龍 are not folded (both are common, distinct given-name characters).

Address key (:func:`address_search_key`):

1. as steps 1–3 above, except that whitespace between two digits becomes ``-`` (``1-2 101`` is
   block 1-2, room 101);
2. ヶ/ヵ → ケ/カ (霞ヶ関/霞ケ関; 鎌ケ谷/鎌ヶ谷); hiragana is *not* folded (霞が関 is spelled so);
3. kanji numerals directly before 丁目, 番地, 番 or 号 become Arabic (二丁目 → 2丁目); 番 is not
   touched when 町 or 丁 follows (一番町 is a place name). The numeral run is taken whole, so a
   place name ending in a numeral right before the number (a hypothetical 七五三丁目) is misread;
   that only costs a match, never a stored value;
4. after a digit, 丁目, 番地, 番 and 号 become ``-``, as do any hyphen-like character between
   digits (‐ ‑ ‒ – — ― − ー ─ ━, ASCII -) and の/ノ between digits (1番地の2); then every ``-``
   not followed by a digit is dropped, so ``2丁目8番1号``, ``2-8-1`` and ``二丁目8-1`` share a key;
5. Latin letters upper-cased and the kanji variants of the name key folded.

〜 is never touched: ``jaconv.normalize`` turns it into ー, which would corrupt addresses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import jaconv

KANJI_VARIANTS: dict[str, str] = {
    "髙": "高",
    "﨑": "崎",  # U+FA11, a unified ideograph NFKC leaves alone
    "嵜": "崎",
    "邊": "辺",
    "邉": "辺",
    "齋": "斎",
    "齊": "斉",
    "澤": "沢",
    "濱": "浜",
    "嶋": "島",
    "嶌": "島",
    "冨": "富",
    "德": "徳",
    "廣": "広",
    "國": "国",
    "櫻": "桜",
    "眞": "真",
    "實": "実",
    "惠": "恵",
    "藏": "蔵",
    "槇": "槙",
    "𠮷": "吉",  # U+20BB7 (tsuchi-yoshi)
}
"""Old/variant kanji folded in search keys. Conservative: see the module docstring."""

_SMALL_KANA = str.maketrans(
    "ァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ",
    "アイウエオツヤユヨワカケクシストヌハヒフヘホムラリルレロ",
)
_KANJI = str.maketrans(KANJI_VARIANTS)
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_WHITESPACE = re.compile(r"\s+")
_KANA = "\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u2500\u2501"
_DASH_AFTER_KANA = re.compile(f"(?<=[{_KANA}])[{_DASHES}]")
_MAX_PASSES = 8


def _fixed_point(one_pass: Callable[[str], str], text: str) -> str:
    """Repeat ``one_pass`` until the text stops changing, so keys are idempotent."""
    for _ in range(_MAX_PASSES):
        again = one_pass(text)
        if again == text:
            return text
        text = again
    return text


def _common(text: str) -> str:
    text = _VARIATION_SELECTOR.sub("", text)
    return unicodedata.normalize("NFKC", text)


def _name_pass(text: str) -> str:
    text = _WHITESPACE.sub("", _common(_WHITESPACE.sub("", text)))
    text = str(jaconv.hira2kata(text)).translate(_SMALL_KANA)
    text = _DASH_AFTER_KANA.sub("ー", text)
    return text.upper().translate(_KANJI)


def name_search_key(name: str) -> str:
    """Key for matching a name (see the module docstring for the rules)."""
    return _fixed_point(_name_pass, name)


def kana_search_key(kana: str) -> str:
    """Key for matching a kana reading: the name key (hiragana/katakana, width, small kana)."""
    return name_search_key(kana)


_KANJI_DIGITS = {
    "〇": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_KANJI_NUMBER = re.compile("([〇一二三四五六七八九十百千]+)(?=丁目|番地|番(?![町丁])|号)")
_UNIT_AFTER_DIGIT = re.compile("(?<=[0-9])(?:丁目|番地|番(?![町丁])|号)")
_DASH_BETWEEN_DIGITS = re.compile(f"(?<=[0-9])[{_DASHES}]+(?=[0-9])")
_SPACE_BETWEEN_DIGITS = re.compile(r"(?<=[0-9])\s+(?=[0-9])")
_NO_BETWEEN_DIGITS = re.compile("(?<=[0-9])-?[のノ](?=[0-9])")
_DANGLING_DASH = re.compile("-(?![0-9])")
_SMALL_KE = str.maketrans("ヶヵ", "ケカ")


def _kanji_number(numeral: str) -> str:
    """Read a kanji numeral (一, 十二, 二十三, 百五, 一〇二) as Arabic digits."""
    if not any(ch in "十百千" for ch in numeral):
        return "".join(str(_KANJI_DIGITS[ch]) for ch in numeral)
    total = 0
    current = 0
    for ch in numeral:
        if ch in _KANJI_DIGITS:
            current = current * 10 + _KANJI_DIGITS[ch]
        else:
            unit = {"十": 10, "百": 100, "千": 1000}[ch]
            total += (current or 1) * unit
            current = 0
    return str(total + current)


def _address_pass(text: str) -> str:
    text = _common(_VARIATION_SELECTOR.sub("", text))
    text = _SPACE_BETWEEN_DIGITS.sub("-", text)
    text = _WHITESPACE.sub("", text)
    text = _common(text)
    text = _WHITESPACE.sub("", text).translate(_SMALL_KE)
    text = _KANJI_NUMBER.sub(lambda m: _kanji_number(m.group(1)), text)
    text = _UNIT_AFTER_DIGIT.sub("-", text)
    text = _DASH_BETWEEN_DIGITS.sub("-", text)
    text = _NO_BETWEEN_DIGITS.sub("-", text)
    text = _DANGLING_DASH.sub("", text)
    return text.upper().translate(_KANJI)


def address_search_key(address: str) -> str:
    """Key for matching an address (see the module docstring for the rules)."""
    return _fixed_point(_address_pass, address)

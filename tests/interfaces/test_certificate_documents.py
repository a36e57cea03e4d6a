"""The wide-area copy as a PDF: rendered to PNG (pdftoppm) and read back as text (pdftotext);
the items asked for are there, the omitted ones are not, the fonts are embedded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image

from jukinet.clock import FixedClock
from jukinet.domain.certificates import (
    Options,
    Requester,
    RequestStatus,
    WideAreaRequest,
    items_of,
)
from jukinet.domain.codes import make_resident_code
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import (
    ForeignCategory,
    ForeignResidentItems,
    NewEntry,
    RegisterEntry,
    ResidentKind,
    apply_change,
)
from jukinet.interfaces.documents.certificates import (
    CertificateDocument,
    document_of,
    render_certificate_pdf,
)
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from tests.support.pdf import first_page_png, needs_pdf_tools, read_back

pytestmark = needs_pdf_tools

CHIYODA, KAMAKURA = "131016", "142042"
DOMICILE = "北海道札幌市中央区北1条西2丁目"
TODAY = date(2014, 3, 3)
HEAD_CODE = make_resident_code("1111111111")
WIFE_CODE = make_resident_code("2222222222")


def entry(reason_kw: dict[str, object]) -> RegisterEntry:
    event = NewEntry(
        ChangeReason.MOVE_IN_FROM_ABROAD,
        date(2013, 4, 1),
        address="東京都千代田区神田神保町一丁目2番地",
        household_id="0000000007",
        **reason_kw,  # type: ignore[arg-type]
    )
    return apply_change(None, event, lg_code=CHIYODA, today=TODAY)


HEAD = entry(
    {
        "name": "山田　太郎",
        "birth_date": date(1970, 5, 1),
        "sex": Sex.MALE,
        "resident_code": HEAD_CODE,
        "registered_domicile": DOMICILE,
    }
)
WIFE = entry(
    {
        "name": "𠮷田　花子",  # a non-BMP kanji is printed too
        "name_kana": "ヨシダ ハナコ",
        "birth_date": date(1972, 8, 9),
        "sex": Sex.FEMALE,
        "resident_code": WIFE_CODE,
        "relationship": "妻",
        "registered_domicile": DOMICILE,
        "former_surname": "佐藤",
    }
)
WANG = entry(
    {
        "name": "王　明",
        "birth_date": date(1985, 6, 15),
        "sex": Sex.MALE,
        "resident_code": make_resident_code("3333333333"),
        "kind": ResidentKind.FOREIGN,
        "alias": "王　明男",
        "foreign": ForeignResidentItems(
            nationality="中国",
            category=ForeignCategory.MID_LONG_TERM,
            foreign_resident_since=date(2012, 7, 9),
            residence_status="技術",
            period_of_stay="3年",
            stay_expiry=date(2015, 7, 9),
            residence_card_number="AB12345678CD",
        ),
    }
)


def document(*people: RegisterEntry, options: Options = Options()) -> CertificateDocument:  # noqa: B008
    return CertificateDocument(
        certificate_number=f"{KAMAKURA}-00000001",
        issuing_lg_code=KAMAKURA,
        home_lg_code=CHIYODA,
        issued_on=TODAY,
        options=options,
        persons=[items_of(p, HEAD, options) for p in people],
    )


def read_back_inked(pdf: Path, tmp_path: Path) -> str:
    """The PDF rendered to PNG (a page with ink on it) and its text, whitespace removed."""
    page = first_page_png(pdf, tmp_path, dpi=60)
    with Image.open(page) as image:
        grey = image.convert("L")
        darkest, lightest = grey.getextrema()
        # a single-band image: one (min, max) pair, not a pair per band
        assert not isinstance(darkest, tuple) and not isinstance(lightest, tuple)
        inked = sum(grey.histogram()[:128])
    assert lightest > 200 and darkest < 60  # paper and print
    assert inked > 2_000  # text and table rules, not a blank page
    return read_back(pdf)


def test_default_copy_prints_the_entry_and_omits_the_rest(tmp_path: Path) -> None:
    pdf = render_certificate_pdf(document(WIFE), tmp_path / "copy.pdf")
    text = read_back_inked(pdf, tmp_path)
    for expected in (
        "住民票の写し",
        "（広域交付）",
        "𠮷田花子",
        "ヨシダハナコ",
        "旧氏佐藤",
        "昭和47年8月9日",
        "東京都千代田区神田神保町一丁目2番地",
        "住民となった年月日平成25年4月1日",
        "国外からの転入",
        "記載を省略した事項：本籍・筆頭者、世帯主・続柄、住民票コード",
        "住民基本台帳法第12条の4",
        "住所地市町村：東京都千代田区",
        "平成26年3月3日",
        "神奈川県鎌倉市長",
        f"{KAMAKURA}-00000001",
    ):
        assert expected in text, expected
    for omitted in (
        DOMICILE.replace(" ", ""),
        "本籍北海道",
        "山田太郎",
        "妻",
        WIFE_CODE,
        "世帯主山田",
    ):
        assert omitted not in text, omitted


def test_household_and_code_when_asked_for(tmp_path: Path) -> None:
    options = Options(include_household=True, include_resident_code=True)
    pdf = render_certificate_pdf(document(WIFE, HEAD, options=options), tmp_path / "copy.pdf")
    text = read_back_inked(pdf, tmp_path)
    for expected in (
        "世帯主山田太郎",
        "続柄妻",
        "続柄世帯主",
        f"住民票コード{WIFE_CODE}",
        f"住民票コード{HEAD_CODE}",
        "記載を省略した事項：本籍・筆頭者",
    ):
        assert expected in text, expected
    assert DOMICILE not in text
    assert "世帯主・続柄、" not in text and "、住民票コード" not in text


def test_foreign_resident_copy_prints_the_foreign_items(tmp_path: Path) -> None:
    pdf = render_certificate_pdf(document(WANG), tmp_path / "copy.pdf")
    text = read_back_inked(pdf, tmp_path)
    for expected in (
        "王明",
        "通称王明男",
        "国籍・地域中国",
        "外国人住民となった年月日平成24年7月9日",
        "中長期在留者",
        "在留資格技術",
        "在留期間3年",
        "在留期間の満了の日平成27年7月9日",
        "在留カード等の番号AB12345678CD",
    ):
        assert expected in text, expected


@pytest.fixture
def network(tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(
        tmp_path / "var", FixedClock(datetime(2014, 3, 3, 1, tzinfo=UTC)), [CHIYODA, KAMAKURA]
    )
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


def test_a_copy_issued_over_the_network_renders(network: EmbeddedNetwork, tmp_path: Path) -> None:
    home = network.municipality(CHIYODA).register(CHIYODA)
    person = home.record(
        NewEntry(
            ChangeReason.MOVE_IN_FROM_ABROAD,
            date(2013, 4, 1),
            "鈴木　一郎",
            date(1960, 1, 2),
            Sex.MALE,
            "東京都千代田区丸の内1番",
            registered_domicile=DOMICILE,
        )
    )
    assert person.resident_code is not None
    certificates = network.municipality(KAMAKURA).certificates[KAMAKURA]
    view = certificates.request(
        WideAreaRequest(
            CHIYODA,
            Requester(person.resident_code, "鈴木 一郎", person.birth_date),  # spacing differs
            (),
            Options(),
            "運転免許証",
        ),
        "operator:clerk",
    )
    network.drain()
    stored, _persons = certificates.issued(view.stored.id)
    assert stored.status is RequestStatus.ISSUED
    pdf = render_certificate_pdf(document_of(stored), tmp_path / "issued.pdf")
    text = read_back_inked(pdf, tmp_path)
    assert "鈴木一郎" in text and "東京都千代田区丸の内1番" in text
    assert stored.certificate_number in text
    assert DOMICILE not in text and person.resident_code not in text

"""The disclosure documents as PDFs: the disclosure letter (record, history, provisions), the
refusal letter (reasons), the correction answer and the statistics table render, read back in
Japanese with era dates (pdftotext), embed their fonts (pdffonts) and rasterise (pdftoppm)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from jukinet.domain.disclosure import (
    Channel,
    CorrectionItem,
    CorrectionOutcome,
    CorrectionState,
    Decision,
    DisclosedContent,
    DisclosedProvision,
    DisclosedVersion,
    EvidenceKind,
    Office,
    RecordedRequest,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
    statistics_rows,
)
from jukinet.interfaces.documents.disclosure import (
    Letterhead,
    correction_answer_html,
    decision_letter_html,
    render_pdf,
    statistics_html,
)
from jukinet.store.disclosure import Correction, StoredRequest
from tests.support.pdf import first_page_png, needs_pdf_tools, read_back

pytestmark = needs_pdf_tools

NATIONAL = Office("national")
BORN = date(1950, 5, 5)


def version(code: str, reason: str, changed: date, address: str) -> DisclosedVersion:
    return DisclosedVersion(
        code, "𠮷田　一郎", None, None, BORN, "male", address, reason, changed, False
    )


def content() -> DisclosedContent:
    old = version("24727059608", "birth", BORN, "東京都千代田区霞が関二丁目1番2号")
    moved = version(
        "24727059608", "move_within", date(2010, 6, 1), "東京都千代田区永田町一丁目7番1号"
    )
    new = version("10000000124", "resident_code_change", date(2012, 4, 2), moved.address)
    provisions = (
        DisclosedProvision(
            date(2011, 5, 10),
            "日本年金機構",
            "NENKIN-1",
            "被保険者に係る届出に関する事務",
            "immediate",
            "NK-2011-1",
            old.resident_code,
        ),
        DisclosedProvision(
            date(2014, 3, 31),
            "日本年金機構",
            "NENKIN-1",
            "被保険者に係る届出に関する事務",
            "batch_line",
            "p1",
            new.resident_code,
        ),
    )
    return DisclosedContent(
        date(2014, 3, 31), new, (old, moved, new), provisions, "2007-03", "全国センター"
    )


def request(**kw: object) -> StoredRequest:
    base = StoredRequest(
        id=7,
        office="national",
        received_on=date(2014, 3, 20),
        request_method=Channel.MAIL,
        delivery_method=Channel.MAIL,
        requester_kind=RequesterKind.PERSON,
        requester_name="𠮷田　一郎",
        requester_address="東京都千代田区永田町一丁目7番1号",
        representation=None,
        subject_resident_code="10000000124",
        subject_name="𠮷田　一郎",
        subject_birth_date=BORN,
        resident_code="10000000124",
        evidence=frozenset({EvidenceKind.PASSPORT, EvidenceKind.RESIDENCE_CERTIFICATE}),
        state=RequestState.DECIDED,
        due_on=date(2014, 4, 3),
        decision=Decision.DISCLOSE,
        refusal_reasons=(),
        refusal_note=None,
        decided_on=date(2014, 3, 31),
        content=content(),
        delivered_on=None,
        recorded_at=datetime(2014, 3, 20, 1, tzinfo=UTC),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


HEAD = Letterhead(NATIONAL, "財団法人地方自治情報センター", date(2014, 3, 31))


def pdf_text(pdf: Path, tmp_path: Path) -> str:
    """The PDF's text (spaces removed), after checking fonts are embedded and page 1
    rasterises to a PNG with something on it."""
    assert first_page_png(pdf, tmp_path).stat().st_size > 5_000
    return read_back(pdf)


def test_disclosure_letter(tmp_path: Path) -> None:
    pdf = render_pdf(decision_letter_html(request(), HEAD), tmp_path / "disclosure.pdf")
    text = pdf_text(pdf, tmp_path)
    for expected in (
        "本人確認情報開示決定通知書",
        "受付番号第7号",
        "平成26年3月31日",  # decided
        "平成26年3月20日付けで請求のあった",
        "住民基本台帳法第30条の37",
        "𠮷田一郎様",
        "財団法人地方自治情報センター",
        "昭和25年5月5日",  # date of birth
        "10000000124",
        "24727059608",  # the old code, in the history
        "住民票コードの変更",
        "転居",
        "平成22年6月1日",
        "本人確認情報の提供状況（平成19年3月以降）",
        "平成23年5月10日",
        "即時提供",
        "電気通信回線",
        "NK-2011-1",
        "被保険者に係る届出に関する事務",
        "提供件数2件",
        "郵送（送付先：東京都千代田区永田町一丁目7番1号）",
    ):
        assert expected in text, expected


def test_prefecture_letter_shows_the_national_centers_answer_and_its_date(
    tmp_path: Path,
) -> None:
    tokyo = Office("13")
    answered = replace(
        content(),
        provisions_note="提供状況は全国センターが保有する提供記録から本人に係るものを記載しています。",
        provisions_as_of=date(2014, 3, 21),
    )
    stored = request(office="13", content=answered, delivery_method=Channel.VISIT)
    head = Letterhead(tokyo, "東京都知事", date(2014, 3, 31))
    text = pdf_text(render_pdf(decision_letter_html(stored, head), tmp_path / "t.pdf"), tmp_path)
    assert "東京都知事" in text
    assert "平成26年3月21日現在の記録により記載しています" in text
    assert "全国センターが保有する提供記録から本人に係るものを記載しています" in text
    assert "NK-2011-1" in text and "提供件数2件" in text
    assert "来所による交付" in text
    assert "東京都本人確認情報開示担当" in text


def test_refusal_letter_names_the_reasons(tmp_path: Path) -> None:
    refused = request(
        decision=Decision.REFUSE,
        content=None,
        refusal_reasons=(RefusalReason.NOT_ENTITLED, RefusalReason.OTHER),
        refusal_note="請求書に署名がありません",
        requester_kind=RequesterKind.LEGAL_REPRESENTATIVE,
        requester_name="𠮷田　花子",
        representation=Representation.PARENT,
    )
    pdf = render_pdf(decision_letter_html(refused, HEAD), tmp_path / "refusal.pdf")
    text = pdf_text(pdf, tmp_path)
    for expected in (
        "本人確認情報不開示決定通知書",
        "開示しないことに決定した",
        "理由1",
        "請求者が本人又は法定代理人ではないため",
        "その他：請求書に署名がありません",
        "𠮷田花子様（𠮷田一郎の法定代理人・親権者）",
        "異議申立て",
        "平成26年3月31日",
    ):
        assert expected in text, expected
    assert "10000000124" not in text  # a refusal shows nothing of the record


def test_correction_answer(tmp_path: Path) -> None:
    stored = request(state=RequestState.DELIVERED, delivered_on=date(2014, 3, 31))
    correction = Correction(
        id=1,
        request_id=7,
        requested_on=date(2014, 3, 31),
        item=CorrectionItem.ADDRESS,
        claimed="東京都千代田区永田町一丁目7番2号",
        state=CorrectionState.ANSWERED,
        answered_on=date(2014, 3, 31),
        outcome=CorrectionOutcome.NOT_CORRECTED,
        findings="千代田区に照会した結果、住民票の記載どおりであることを確認しました。",
    )
    html = correction_answer_html(stored, correction, HEAD)
    text = pdf_text(render_pdf(html, tmp_path / "answer.pdf"), tmp_path)
    for expected in (
        "本人確認情報の訂正等の申出に係る調査結果通知書",
        "住民基本台帳法第30条の40",
        "住所",
        "東京都千代田区永田町一丁目7番2号",
        "住民票の記載どおりであることを確認しました",
        "訂正しないこととしました",
    ):
        assert expected in text, expected


def test_statistics_table(tmp_path: Path) -> None:
    rows = statistics_rows(
        [
            RecordedRequest(date(2012, 6, 1), Channel.VISIT, Channel.MAIL),
            RecordedRequest(date(2013, 5, 1), Channel.MAIL, Channel.MAIL),
            RecordedRequest(date(2014, 3, 3), Channel.VISIT, Channel.VISIT),
        ],
        2002,
        2013,
    )
    head = Letterhead(NATIONAL, "地方公共団体情報システム機構", date(2014, 4, 1))
    text = pdf_text(render_pdf(statistics_html(rows, head), tmp_path / "stats.pdf"), tmp_path)
    for expected in (
        "本人確認情報の開示請求の状況",
        "平成14年度",
        "平成25年度",
        "合計",
        "地方公共団体情報システム機構",
        "平成26年4月1日",
    ):
        assert expected in text, expected
    assert "平成25年度1件1件1件1件2件" in text
    assert "合計2件1件1件2件3件" in text

"""The disclosure documents as PDFs (WeasyPrint, Noto Sans CJK embedded, dates in the Japanese
era): the decision notice — disclosure (本人確認情報開示決定通知書, with the record, its history
and the provision history) or refusal (本人確認情報不開示決定通知書, with the reasons) —, the
answer to a correction request, and the statistics table the national center publishes.

Legal basis printed, as numbered in 2014: 住民基本台帳法第30条の37 (self-disclosure; 第30条の32
since 2015), 第30条の38 (the period for the decision, and its extension notified in writing
with the reason and the new deadline) and 第30条の40 (an application for correction after a
disclosure, 訂正等の申出, investigated without delay and answered in writing: the 1999
amending Act). The appeal notice
(教示) names the objection (異議申立て, within 60 days) of the 行政不服審査法 of the time; its
wording is the project's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from weasyprint import HTML  # type: ignore[import-untyped]

from jukinet.domain.disclosure import (
    Decision,
    DisclosedVersion,
    Office,
    StatisticsRow,
    due_date,
)
from jukinet.domain.eras import format_era_date, format_era_month
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.provision import ProvisionMethod
from jukinet.interfaces.documents.fonts import noto_sans_cjk
from jukinet.services.disclosure import issuer
from jukinet.store.disclosure import Correction, StoredRequest

DISCLOSURE_ARTICLE = "住民基本台帳法第30条の37"
EXTENSION_ARTICLE = "住民基本台帳法第30条の38"
CORRECTION_ARTICLE = "住民基本台帳法第30条の40"
METHODS_NOTE = (
    "提供方法欄の「即時提供」は本人確認情報の即時提供を、「電気通信回線」は電気通信回線を"
    "通じた一括提供を、「磁気媒体」は磁気媒体による一括提供をいう。"
)


def _era(d: date | None) -> str:
    return "" if d is None else format_era_date(d)


def _reason(code: str) -> str:
    try:
        return ChangeReason(code).label_ja
    except ValueError:
        return code


def _sex(code: str) -> str:
    try:
        return Sex(code).label_ja
    except ValueError:
        return code


def _method(code: str) -> str:
    try:
        return ProvisionMethod(code).label_ja
    except ValueError:
        return code


def _kept_from(year_month: str) -> str:
    year, month = (int(p) for p in year_month.split("-"))
    return format_era_month(year, month)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("jukinet.interfaces.documents", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["era"] = _era
    env.filters["reason"] = _reason
    env.filters["sex"] = _sex
    env.filters["method"] = _method
    env.filters["era_month"] = _kept_from
    return env


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who sends a document and when: the office and the decider in office that day."""

    office: Office
    issuer: str
    dated: date

    @property
    def desk(self) -> str:
        return f"{self.office.label_ja} 本人確認情報開示担当"


def _addressee(request: StoredRequest) -> str:
    if request.representation is not None:
        return (
            f"{request.requester_name} 様（{request.subject_name} の法定代理人・"
            f"{request.representation.label_ja}）"
        )
    return f"{request.requester_name} 様"


def decision_letter_html(request: StoredRequest, head: Letterhead) -> str:
    """The decision notice of a decided request: a disclosure or a refusal."""
    if request.decision is None:
        raise ValueError(f"request {request.id} is not decided: no decision notice yet")
    env = _environment()
    if request.decision is Decision.DISCLOSE:
        assert request.content is not None
        template = env.get_template("disclosure_letter.html")
        return template.render(
            request=request,
            content=request.content,
            current=_current_rows(request.content.record),
            head=head,
            addressee=_addressee(request),
            article=DISCLOSURE_ARTICLE,
            methods_note=METHODS_NOTE,
            font_url=noto_sans_cjk().as_uri(),
        )
    template = env.get_template("refusal_letter.html")
    return template.render(
        request=request,
        head=head,
        addressee=_addressee(request),
        article=DISCLOSURE_ARTICLE,
        font_url=noto_sans_cjk().as_uri(),
    )


def _current_rows(record: DisclosedVersion) -> list[tuple[str, str]]:
    rows = [("氏名", record.name)]
    if record.alias:
        rows.append(("通称", record.alias))
    if record.former_surname:
        rows.append(("旧氏", record.former_surname))
    rows += [
        ("出生の年月日", _era(record.birth_date)),
        ("男女の別", _sex(record.sex)),
        ("住所", record.address),
        ("住民票コード", record.resident_code),
        ("異動事由", _reason(record.change_reason)),
        ("異動年月日", _era(record.change_date)),
    ]
    return rows


def extension_notice_html(request: StoredRequest, head: Letterhead) -> str:
    """The written notice of an extended decision period: reason and new deadline."""
    if request.extension is None:
        raise ValueError(f"request {request.id} was not extended: no extension notice")
    template = _environment().get_template("extension_notice.html")
    return template.render(
        request=request,
        extension=request.extension,
        original_due=due_date(request.received_on),
        head=head,
        addressee=_addressee(request),
        article=DISCLOSURE_ARTICLE,
        extension_article=EXTENSION_ARTICLE,
        font_url=noto_sans_cjk().as_uri(),
    )


def correction_answer_html(request: StoredRequest, correction: Correction, head: Letterhead) -> str:
    if correction.outcome is None:
        raise ValueError(f"correction {correction.id} is not answered yet")
    template = _environment().get_template("correction_answer.html")
    return template.render(
        request=request,
        correction=correction,
        head=head,
        addressee=_addressee(request),
        article=CORRECTION_ARTICLE,
        font_url=noto_sans_cjk().as_uri(),
    )


def statistics_html(rows: list[StatisticsRow], head: Letterhead) -> str:
    template = _environment().get_template("disclosure_statistics.html")
    return template.render(rows=rows, head=head, font_url=noto_sans_cjk().as_uri())


# --- the documents of a stored request, signed by whoever decides at the office that day ----


def letterhead(office: Office, day: date) -> Letterhead:
    return Letterhead(office, issuer(office, day), day)


def decision_notice(request: StoredRequest, office: Office) -> str:
    """The decision notice, dated the day of the decision (refused before there is one)."""
    if request.decided_on is None:
        raise RuleViolation(
            "state", "illegal_transition", f"request {request.id} is not decided yet"
        )
    return decision_letter_html(request, letterhead(office, request.decided_on))


def extension_notice(request: StoredRequest, office: Office) -> str:
    """The extension notice, dated the day the requester was notified."""
    if request.extension is None:
        raise RuleViolation("state", "not_extended", f"request {request.id} was not extended")
    return extension_notice_html(request, letterhead(office, request.extension.notified_on))


def correction_notice(request: StoredRequest, correction: Correction, office: Office) -> str:
    """The answer to a correction request, dated the day it was answered."""
    if correction.answered_on is None:
        raise RuleViolation(
            "state", "illegal_transition", f"correction {correction.id} is not answered yet"
        )
    return correction_answer_html(request, correction, letterhead(office, correction.answered_on))


def render_pdf(html: str, out: Path) -> Path:
    """Write ``html`` to ``out`` as a PDF and return it."""
    HTML(string=html).write_pdf(out)
    return out


def pdf_bytes(html: str) -> bytes:
    data: bytes = HTML(string=html).write_pdf()
    return data

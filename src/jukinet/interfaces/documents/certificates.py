"""The wide-area copy of a register entry (住民票の写し・広域交付) as a PDF (WeasyPrint).

It prints what the home municipality sent and nothing else: the registered domicile is never
among the items, the household head, the relationship and the resident code only when they
were asked for; a line names what was omitted. Dates are in the Japanese era calendar; the
font is Noto Sans CJK, embedded (see ``fonts.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from weasyprint import HTML  # type: ignore[import-untyped]

from jukinet.domain import reference
from jukinet.domain.certificates import CertificatePerson, Options
from jukinet.domain.eras import format_era_date
from jukinet.interfaces.documents.fonts import noto_sans_cjk
from jukinet.store.certificates import StoredRequest

_TEMPLATES = Environment(
    loader=PackageLoader("jukinet.interfaces.documents", "templates"),
    autoescape=select_autoescape(["html"]),
)


def municipality_title(lg_code: str) -> str:
    """``東京都千代田区`` for 131016."""
    municipality = reference.municipality(lg_code)
    return reference.prefecture(municipality.prefecture_code).name + municipality.name


@dataclass(frozen=True, slots=True)
class CertificateDocument:
    """Everything printed on one copy."""

    certificate_number: str
    issuing_lg_code: str
    home_lg_code: str
    issued_on: date
    options: Options
    persons: Sequence[CertificatePerson]

    def omitted(self) -> list[str]:
        items = ["本籍・筆頭者"]
        if not self.options.include_household:
            items.append("世帯主・続柄")
        if not self.options.include_resident_code:
            items.append("住民票コード")
        return items


def document_of(stored: StoredRequest) -> CertificateDocument:
    """The copy of an issued request (see ``WideAreaCertificates.issued``)."""
    if stored.issued_on is None:
        raise ValueError(f"request {stored.id} is not issued")
    return CertificateDocument(
        certificate_number=stored.certificate_number,
        issuing_lg_code=stored.lg_code,
        home_lg_code=stored.request.home_lg_code,
        issued_on=stored.issued_on,
        options=stored.request.options,
        persons=stored.persons,
    )


def _era(value: date | None) -> str | None:
    return None if value is None else format_era_date(value)


def _person(p: CertificatePerson) -> dict[str, object]:
    return {
        "name": p.name,
        "name_kana": p.name_kana,
        "alias": p.alias,
        "former_surname": p.former_surname,
        "birth_date_ja": _era(p.birth_date),
        "sex_ja": p.sex.label_ja,
        "address": p.address,
        "household_head": p.household_head,
        "relationship": p.relationship,
        "entry_date_ja": _era(p.entry_date),
        "previous_address": p.previous_address,
        "change_date_ja": _era(p.change_date),
        "change_reason_ja": p.change_reason.label_ja,
        "nationality": p.nationality,
        "foreign_resident_since_ja": _era(p.foreign_resident_since),
        "foreign_category_ja": p.foreign_category.label_ja if p.foreign_category else None,
        "residence_status": p.residence_status,
        "period_of_stay": p.period_of_stay,
        "stay_expiry_ja": _era(p.stay_expiry),
        "residence_card_number": p.residence_card_number,
        "resident_code": p.resident_code,
    }


def certificate_html(document: CertificateDocument) -> str:
    template = _TEMPLATES.get_template("wide_area_certificate.html")
    return template.render(
        font_url=noto_sans_cjk().as_uri(),
        certificate_number=document.certificate_number,
        persons=[_person(p) for p in document.persons],
        omitted=document.omitted(),
        home_municipality=municipality_title(document.home_lg_code),
        issued_on_ja=format_era_date(document.issued_on),
        issuer=f"{municipality_title(document.issuing_lg_code)}長",
    )


def certificate_pdf(document: CertificateDocument) -> bytes:
    pdf: bytes = HTML(string=certificate_html(document)).write_pdf()
    return pdf


def render_certificate_pdf(document: CertificateDocument, out: Path) -> Path:
    """Write the copy to ``out`` (PDF) and return it."""
    out.write_bytes(certificate_pdf(document))
    return out

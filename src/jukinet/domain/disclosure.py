"""Self-disclosure of the identity record (本人確認情報の開示, DOMAIN.md §6): who may ask, with
what evidence, the states of a request and its deadline, correction requests, and the
statistics table the national center publishes.

Pure rules: no storage, no clock reads (services pass ``today``, a date in Japan).

- **Who may ask.** The person (本人) or a legal representative (法定代理人: a parent with
  parental authority over a minor, or an adult guardian). A voluntary agent (任意代理人) is
  refused: the Act (then 第30条の37) gives the right to the person, and a legal representative
  acts for one who cannot; accepting an agent appointed by a letter anyone can forge would let
  a stranger obtain someone's identity record and address — the harm the disclosure must not
  cause.
- **Evidence** (本人確認書類; the Act's wording is not in the public record, this is the
  project's rule, the usual one of Japanese offices): one photo document, or two documents
  without a photo. A legal representative also proves the representation (a family register
  for a parent, the guardianship registration certificate for a guardian). A request by mail
  includes a copy of the requester's residence certificate (住民票の写し): the answer goes
  to that address.
- **States**: received → decided (disclose, or refuse with reasons) → delivered (by visit or
  by mail). A request with formal defects (not entitled, evidence missing, no record matches
  it) is refused when it is received, and recorded as refused.
- **Deadline**: the decision is due 14 calendar days after the request was received (a mailed
  request: the day it arrived). A received request past that day is overdue.
- **Statistics**: per fiscal year (April–March) of the day received, requests by how they came
  and by how the answer is to be received (both chosen on the request form), a total per row
  and a grand total.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from jukinet.domain import reference
from jukinet.domain.codes import validate_resident_code
from jukinet.domain.eras import fiscal_year, fiscal_year_label
from jukinet.domain.errors import RuleViolation
from jukinet.domain.names import name_search_key

DECISION_DAYS = 14
"""The decision is due this many calendar days after the request was received."""

JUKI_NET_START = date(2002, 8, 5)
"""The network's first day of operation: no request can have been received before it."""

FIRST_FISCAL_YEAR = fiscal_year(JUKI_NET_START)


# --- offices --------------------------------------------------------------------------------

NATIONAL_OFFICE = "national"
_PREF = re.compile(r"^(0[1-9]|[1-3]\d|4[0-7])$")


@dataclass(frozen=True, slots=True)
class Office:
    """Where a request is made: the national center (``national``) or a prefecture (its
    2-digit code). Its operators are those of the organisation ``organisation``."""

    code: str

    @property
    def national(self) -> bool:
        return self.code == NATIONAL_OFFICE

    @property
    def pref_code(self) -> str | None:
        return None if self.national else self.code

    @property
    def organisation(self) -> str:
        return NATIONAL_OFFICE if self.national else f"prefecture/{self.code}"

    @property
    def label_ja(self) -> str:
        return "全国センター" if self.national else reference.prefecture(self.code).name


def parse_office(text: str, field: str = "office") -> Office:
    value = text.strip()
    if value == NATIONAL_OFFICE or _PREF.match(value):
        return Office(value)
    raise RuleViolation(
        field, "office", f"{text!r}: an office is 'national' or a 2-digit prefecture code (01-47)"
    )


# --- the request form -----------------------------------------------------------------------


class Channel(StrEnum):
    """How a request came, and how its answer is received."""

    VISIT = "visit"
    MAIL = "mail"

    @property
    def label_ja(self) -> str:
        return "来所" if self is Channel.VISIT else "郵送"


class RequesterKind(StrEnum):
    PERSON = "person"  # 本人
    LEGAL_REPRESENTATIVE = "legal_representative"  # 法定代理人
    VOLUNTARY_AGENT = "voluntary_agent"  # 任意代理人: refused

    @property
    def label_ja(self) -> str:
        return _REQUESTER_JA[self]


_REQUESTER_JA = {
    RequesterKind.PERSON: "本人",
    RequesterKind.LEGAL_REPRESENTATIVE: "法定代理人",
    RequesterKind.VOLUNTARY_AGENT: "任意代理人",
}


class Representation(StrEnum):
    """What makes a legal representative one."""

    PARENT = "parent"  # 親権者 (of a minor)
    GUARDIAN = "guardian"  # 成年後見人

    @property
    def label_ja(self) -> str:
        return "親権者" if self is Representation.PARENT else "成年後見人"


class EvidencePurpose(StrEnum):
    PHOTO_IDENTITY = "photo_identity"
    IDENTITY = "identity"  # without a photo: two are needed
    REPRESENTATION = "representation"


class EvidenceKind(StrEnum):
    """Documents shown at a visit, or copies enclosed with a mailed request."""

    RESIDENT_CARD = "resident_card"  # 住民基本台帳カード（写真付き）
    DRIVERS_LICENCE = "drivers_licence"  # 運転免許証
    PASSPORT = "passport"  # 旅券
    RESIDENCE_CARD = "residence_card"  # 在留カード・特別永住者証明書
    HEALTH_INSURANCE_CARD = "health_insurance_card"  # 健康保険の被保険者証
    PENSION_BOOK = "pension_book"  # 年金手帳
    RESIDENCE_CERTIFICATE = "residence_certificate"  # 住民票の写し
    FAMILY_REGISTER = "family_register"  # 戸籍謄本 (a parent's authority)
    GUARDIANSHIP_CERTIFICATE = "guardianship_certificate"  # 登記事項証明書 (成年後見)

    @property
    def purpose(self) -> EvidencePurpose:
        return _EVIDENCE_PURPOSE[self]

    @property
    def label_ja(self) -> str:
        return _EVIDENCE_JA[self]


_EVIDENCE_PURPOSE = {
    EvidenceKind.RESIDENT_CARD: EvidencePurpose.PHOTO_IDENTITY,
    EvidenceKind.DRIVERS_LICENCE: EvidencePurpose.PHOTO_IDENTITY,
    EvidenceKind.PASSPORT: EvidencePurpose.PHOTO_IDENTITY,
    EvidenceKind.RESIDENCE_CARD: EvidencePurpose.PHOTO_IDENTITY,
    EvidenceKind.HEALTH_INSURANCE_CARD: EvidencePurpose.IDENTITY,
    EvidenceKind.PENSION_BOOK: EvidencePurpose.IDENTITY,
    EvidenceKind.RESIDENCE_CERTIFICATE: EvidencePurpose.IDENTITY,
    EvidenceKind.FAMILY_REGISTER: EvidencePurpose.REPRESENTATION,
    EvidenceKind.GUARDIANSHIP_CERTIFICATE: EvidencePurpose.REPRESENTATION,
}
_EVIDENCE_JA = {
    EvidenceKind.RESIDENT_CARD: "住民基本台帳カード（写真付き）",
    EvidenceKind.DRIVERS_LICENCE: "運転免許証",
    EvidenceKind.PASSPORT: "旅券",
    EvidenceKind.RESIDENCE_CARD: "在留カード又は特別永住者証明書",
    EvidenceKind.HEALTH_INSURANCE_CARD: "健康保険の被保険者証",
    EvidenceKind.PENSION_BOOK: "年金手帳",
    EvidenceKind.RESIDENCE_CERTIFICATE: "住民票の写し",
    EvidenceKind.FAMILY_REGISTER: "戸籍謄本",
    EvidenceKind.GUARDIANSHIP_CERTIFICATE: "登記事項証明書（成年後見）",
}
_PROVES_REPRESENTATION = {
    Representation.PARENT: EvidenceKind.FAMILY_REGISTER,
    Representation.GUARDIAN: EvidenceKind.GUARDIANSHIP_CERTIFICATE,
}


def format_evidence(evidence: Iterable[EvidenceKind]) -> str:
    return ",".join(sorted(e.value for e in evidence))


def parse_evidence(text: str, field: str = "evidence") -> frozenset[EvidenceKind]:
    kinds: set[EvidenceKind] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            kinds.add(EvidenceKind(part))
        except ValueError:
            known = ", ".join(e.value for e in EvidenceKind)
            raise RuleViolation(
                field, "evidence_kind", f"{part!r} is not an evidence kind ({known})"
            ) from None
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class DisclosureForm:
    """A request as the office received it (開示請求書): who asks, for whom, how, with what."""

    office: Office
    received_on: date
    request_method: Channel
    delivery_method: Channel
    requester_kind: RequesterKind
    requester_name: str
    subject_resident_code: str
    subject_name: str
    subject_birth_date: date
    evidence: frozenset[EvidenceKind]
    requester_address: str | None = None
    representation: Representation | None = None


def check_form(form: DisclosureForm, today: date) -> DisclosureForm:
    """A well-formed request, or a RuleViolation naming the field (nothing is recorded).

    Malformed input (a date in the future, a bad resident code, a missing name) is an error of
    entry; whether the requester is entitled is a decision, see :func:`formal_refusals`."""
    if form.received_on > today:
        raise RuleViolation(
            "received_on",
            "future_date",
            f"{form.received_on.isoformat()} is after today ({today.isoformat()}): "
            "a request is entered on or after the day it was received",
        )
    if form.received_on < JUKI_NET_START:
        raise RuleViolation(
            "received_on",
            "before_juki_net",
            f"{form.received_on.isoformat()} is before the network began "
            f"({JUKI_NET_START.isoformat()})",
        )
    validate_resident_code(form.subject_resident_code, "resident_code")
    requester_name = _required(form.requester_name, "requester_name")
    subject_name = _required(form.subject_name, "name")
    if form.subject_birth_date > form.received_on:
        raise RuleViolation(
            "birth_date", "future_date", "the date of birth is after the day of the request"
        )
    address = (form.requester_address or "").strip() or None
    if form.delivery_method is Channel.MAIL and address is None:
        raise RuleViolation(
            "requester_address",
            "required",
            "an answer by mail is sent to the requester's address: give it",
        )
    if form.requester_kind is RequesterKind.LEGAL_REPRESENTATIVE and form.representation is None:
        raise RuleViolation(
            "representation",
            "required",
            "a legal representative is a parent (parent) or an adult guardian (guardian)",
        )
    if form.requester_kind is not RequesterKind.LEGAL_REPRESENTATIVE and form.representation:
        raise RuleViolation(
            "representation",
            "not_a_representative",
            f"a representation is given only for a legal representative, not for "
            f"{form.requester_kind.value}",
        )
    return DisclosureForm(
        office=form.office,
        received_on=form.received_on,
        request_method=form.request_method,
        delivery_method=form.delivery_method,
        requester_kind=form.requester_kind,
        requester_name=requester_name,
        subject_resident_code=form.subject_resident_code,
        subject_name=subject_name,
        subject_birth_date=form.subject_birth_date,
        evidence=form.evidence,
        requester_address=address,
        representation=form.representation,
    )


def _required(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise RuleViolation(field, "required", f"{field} must not be empty")
    return stripped


# --- refusals -------------------------------------------------------------------------------


class RefusalReason(StrEnum):
    NOT_ENTITLED = "not_entitled"
    NO_IDENTITY_EVIDENCE = "no_identity_evidence"
    NO_REPRESENTATION_EVIDENCE = "no_representation_evidence"
    NO_ADDRESS_EVIDENCE = "no_address_evidence"
    PERSON_NOT_FOUND = "person_not_found"
    OTHER = "other"  # with a note

    @property
    def label_ja(self) -> str:
        return _REFUSAL_JA[self]


_REFUSAL_JA = {
    RefusalReason.NOT_ENTITLED: (
        "請求者が本人又は法定代理人ではないため（任意代理人による請求は受け付けていません。）"
    ),
    RefusalReason.NO_IDENTITY_EVIDENCE: (
        "請求者の本人確認書類（写真付きのもの1点又は写真のないもの2点）の提示又は提出がないため"
    ),
    RefusalReason.NO_REPRESENTATION_EVIDENCE: "法定代理人であることを証明する書類の提出がないため",
    RefusalReason.NO_ADDRESS_EVIDENCE: "郵送による請求に請求者の住民票の写しの添付がないため",
    RefusalReason.PERSON_NOT_FOUND: "請求に係る本人確認情報を保有していないため",
    RefusalReason.OTHER: "その他",
}


def parse_refusal_reasons(text: str, field: str = "refusal_reasons") -> tuple[RefusalReason, ...]:
    reasons: list[RefusalReason] = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                reasons.append(RefusalReason(part))
            except ValueError:
                known = ", ".join(r.value for r in RefusalReason)
                raise RuleViolation(
                    field, "refusal_reason", f"{part!r} is not a refusal reason ({known})"
                ) from None
    return tuple(dict.fromkeys(reasons))


def formal_refusals(form: DisclosureForm) -> tuple[RefusalReason, ...]:
    """Why a well-formed request is refused on its face (empty: it goes to a decision).

    A requester who says they are the person but names someone else is not entitled either."""
    reasons: list[RefusalReason] = []
    kind = form.requester_kind
    if kind is RequesterKind.VOLUNTARY_AGENT or (
        kind is RequesterKind.PERSON
        and name_search_key(form.requester_name) != name_search_key(form.subject_name)
    ):
        reasons.append(RefusalReason.NOT_ENTITLED)
    photo = [e for e in form.evidence if e.purpose is EvidencePurpose.PHOTO_IDENTITY]
    other = [e for e in form.evidence if e.purpose is EvidencePurpose.IDENTITY]
    if not photo and len(other) < 2:
        reasons.append(RefusalReason.NO_IDENTITY_EVIDENCE)
    if (
        kind is RequesterKind.LEGAL_REPRESENTATIVE
        and form.representation is not None
        and _PROVES_REPRESENTATION[form.representation] not in form.evidence
    ):
        reasons.append(RefusalReason.NO_REPRESENTATION_EVIDENCE)
    if (
        form.request_method is Channel.MAIL
        and EvidenceKind.RESIDENCE_CERTIFICATE not in form.evidence
    ):
        reasons.append(RefusalReason.NO_ADDRESS_EVIDENCE)
    return tuple(reasons)


def check_refusal(reasons: tuple[RefusalReason, ...], note: str | None) -> str | None:
    """A refusal names at least one reason; ``other`` needs a note. Returns the note."""
    if not reasons:
        raise RuleViolation("refusal_reasons", "required", "a refusal names its reasons")
    text = (note or "").strip() or None
    if RefusalReason.OTHER in reasons and text is None:
        raise RuleViolation("note", "required", "a refusal for another reason (other) explains it")
    return text


def person_matches(
    subject_name: str,
    subject_birth_date: date,
    record_names: Iterable[str | None],
    record_birth_date: date,
) -> bool:
    """Whether a held record is the person the request names: the date of birth and the name
    (or registered alias) agree, compared on search keys (glyph variants and spacing aside)."""
    if subject_birth_date != record_birth_date:
        return False
    wanted = name_search_key(subject_name)
    return any(n is not None and name_search_key(n) == wanted for n in record_names)


# --- states and deadline --------------------------------------------------------------------


class RequestState(StrEnum):
    RECEIVED = "received"
    DECIDED = "decided"
    DELIVERED = "delivered"

    @property
    def label_ja(self) -> str:
        return _STATE_JA[self]


_STATE_JA = {
    RequestState.RECEIVED: "受付",
    RequestState.DECIDED: "決定済",
    RequestState.DELIVERED: "通知済",
}


class Decision(StrEnum):
    DISCLOSE = "disclose"
    REFUSE = "refuse"

    @property
    def label_ja(self) -> str:
        return "開示" if self is Decision.DISCLOSE else "不開示"


class Step(StrEnum):
    DECIDE = "decide"
    DELIVER = "deliver"


_TRANSITIONS: dict[Step, tuple[RequestState, RequestState]] = {
    Step.DECIDE: (RequestState.RECEIVED, RequestState.DECIDED),
    Step.DELIVER: (RequestState.DECIDED, RequestState.DELIVERED),
}


def next_state(state: RequestState, step: Step) -> RequestState:
    """The state after ``step``, or a RuleViolation (``illegal_transition``) naming both."""
    before, after = _TRANSITIONS[step]
    if state is not before:
        raise RuleViolation(
            "state",
            "illegal_transition",
            f"cannot {step.value} a request that is {state.value}: "
            f"only a {before.value} request can be {after.value}",
        )
    return after


def due_date(received_on: date) -> date:
    """The last day for the decision: 14 calendar days after receipt."""
    return received_on + timedelta(days=DECISION_DAYS)


MAX_EXTENDED_DAYS = 60  # the project's cap on an extended deadline, counted from receipt


@dataclass(frozen=True, slots=True)
class Extension:
    """The decision period extended (Act 30-38 proviso): notified in writing within the 14
    days, with the reason and the new deadline."""

    until: date
    reason: str
    notified_on: date


def check_extension(
    state: RequestState,
    received_on: date,
    due_on: date,
    extended: Extension | None,
    *,
    wanted: Extension,
    today: date,
) -> Extension:
    """One extension per request, notified while the request waits and before its 14 days
    run out, to a later day no further than ``MAX_EXTENDED_DAYS`` after receipt, with a
    reason the requester can read."""
    if state is not RequestState.RECEIVED:
        raise RuleViolation(
            "state", "illegal_transition", f"cannot extend a request that is {state.value}"
        )
    if extended is not None:
        raise RuleViolation(
            "until", "already_extended", f"already extended to {extended.until.isoformat()}"
        )
    notified_on = check_step_date(wanted.notified_on, received_on, today, "notified_on")
    if notified_on > due_on:
        raise RuleViolation(
            "notified_on",
            "period_passed",
            f"an extension is notified within the period, by {due_on.isoformat()}",
        )
    latest = received_on + timedelta(days=MAX_EXTENDED_DAYS)
    if not due_on < wanted.until <= latest:
        raise RuleViolation(
            "until",
            "range",
            f"a day after {due_on.isoformat()} and no later than {latest.isoformat()}",
        )
    reason = wanted.reason.strip()
    if not reason:
        raise RuleViolation("reason", "required", "say why the decision cannot be made in time")
    return Extension(wanted.until, reason, notified_on)


def days_overdue(state: RequestState, due_on: date, today: date) -> int:
    """Days past the deadline of a request still waiting for its decision (0: not overdue)."""
    if state is not RequestState.RECEIVED or today <= due_on:
        return 0
    return (today - due_on).days


def check_step_date(on: date, earliest: date, today: date, field: str = "date") -> date:
    """A step happens today or earlier, and not before the step it follows."""
    if on > today:
        raise RuleViolation(
            field, "future_date", f"{on.isoformat()} is after today ({today.isoformat()})"
        )
    if on < earliest:
        raise RuleViolation(
            field,
            "before_previous_step",
            f"{on.isoformat()} is before the previous step ({earliest.isoformat()})",
        )
    return on


# --- correction requests --------------------------------------------------------------------


class CorrectionItem(StrEnum):
    """The item of the disclosed identity record the person says is wrong."""

    NAME = "name"
    BIRTH_DATE = "birth_date"
    SEX = "sex"
    ADDRESS = "address"
    CHANGE = "change"  # 変更情報: change reason and date
    RESIDENT_CODE = "resident_code"

    @property
    def label_ja(self) -> str:
        return _ITEM_JA[self]


_ITEM_JA = {
    CorrectionItem.NAME: "氏名",
    CorrectionItem.BIRTH_DATE: "出生の年月日",
    CorrectionItem.SEX: "男女の別",
    CorrectionItem.ADDRESS: "住所",
    CorrectionItem.CHANGE: "変更情報（異動事由・異動年月日）",
    CorrectionItem.RESIDENT_CODE: "住民票コード",
}


class CorrectionState(StrEnum):
    REQUESTED = "requested"
    ANSWERED = "answered"


class CorrectionOutcome(StrEnum):
    CORRECTED = "corrected"  # 訂正した (the municipality corrected its record; it came up)
    NOT_CORRECTED = "not_corrected"  # 訂正しない (the record is right), with the findings

    @property
    def label_ja(self) -> str:
        return "訂正しました" if self is CorrectionOutcome.CORRECTED else "訂正しないこととしました"


def check_correction_allowed(state: RequestState, decision: Decision | None) -> None:
    """A correction is requested of what was disclosed: after the disclosure was delivered."""
    if state is not RequestState.DELIVERED or decision is not Decision.DISCLOSE:
        what = state.value if decision is None else f"{state.value} ({decision.value})"
        raise RuleViolation(
            "state",
            "illegal_transition",
            f"cannot request a correction of a request that is {what}: "
            "only a delivered disclosure can be corrected",
        )


def check_correction_answer(state: CorrectionState, findings: str) -> str:
    if state is not CorrectionState.REQUESTED:
        raise RuleViolation(
            "state",
            "illegal_transition",
            f"cannot answer a correction that is {state.value}: only a requested one",
        )
    return _required(findings, "findings")


# --- statistics -----------------------------------------------------------------------------

STATISTICS_HEADER = (
    "fiscal_year",
    "era_year",
    "request_visit",
    "request_mail",
    "delivery_visit",
    "delivery_mail",
    "total",
)
TOTAL_LABEL = "合計"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What the statistics count of a recorded request."""

    received_on: date
    request_method: Channel
    delivery_method: Channel


@dataclass(frozen=True, slots=True)
class StatisticsRow:
    fiscal_year: str  # "2013", or "total"
    era_year: str  # 平成25年度, or 合計
    request_visit: int
    request_mail: int
    delivery_visit: int
    delivery_mail: int

    @property
    def total(self) -> int:
        return self.request_visit + self.request_mail

    def as_csv(self) -> tuple[str, ...]:
        return (
            self.fiscal_year,
            self.era_year,
            str(self.request_visit),
            str(self.request_mail),
            str(self.delivery_visit),
            str(self.delivery_mail),
            str(self.total),
        )


def check_fiscal_years(first: int, last: int) -> None:
    if first < FIRST_FISCAL_YEAR:
        raise RuleViolation(
            "from",
            "before_juki_net",
            f"fiscal year {first} is before the network began (FY{FIRST_FISCAL_YEAR})",
        )
    if last < first:
        raise RuleViolation("to", "order", f"fiscal year {last} is before {first}")


def statistics_rows(
    requests: Iterable[RecordedRequest], first: int, last: int
) -> list[StatisticsRow]:
    """One row per fiscal year ``first``..``last`` (years without requests show zeros), then
    the grand total; a request counts in the fiscal year it was received."""
    check_fiscal_years(first, last)
    counts: dict[int, dict[str, int]] = {
        fy: {"rv": 0, "rm": 0, "dv": 0, "dm": 0} for fy in range(first, last + 1)
    }
    for r in requests:
        row = counts.get(fiscal_year(r.received_on))
        if row is None:
            continue
        row["rv" if r.request_method is Channel.VISIT else "rm"] += 1
        row["dv" if r.delivery_method is Channel.VISIT else "dm"] += 1
    rows = [
        StatisticsRow(str(fy), fiscal_year_label(fy), c["rv"], c["rm"], c["dv"], c["dm"])
        for fy, c in counts.items()
    ]
    rows.append(
        StatisticsRow(
            "total",
            TOTAL_LABEL,
            sum(r.request_visit for r in rows),
            sum(r.request_mail for r in rows),
            sum(r.delivery_visit for r in rows),
            sum(r.delivery_mail for r in rows),
        )
    )
    return rows


# --- what is disclosed ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisclosedVersion:
    """One version of the identity record as the office holds it."""

    resident_code: str
    name: str
    alias: str | None
    former_surname: str | None
    birth_date: date
    sex: str
    address: str
    change_reason: str
    change_date: date
    removed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "resident_code": self.resident_code,
            "name": self.name,
            "alias": self.alias,
            "former_surname": self.former_surname,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "address": self.address,
            "change_reason": self.change_reason,
            "change_date": self.change_date.isoformat(),
            "removed": self.removed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DisclosedVersion:
        return cls(
            resident_code=d["resident_code"],
            name=d["name"],
            alias=d.get("alias"),
            former_surname=d.get("former_surname"),
            birth_date=date.fromisoformat(d["birth_date"]),
            sex=d["sex"],
            address=d["address"],
            change_reason=d["change_reason"],
            change_date=date.fromisoformat(d["change_date"]),
            removed=bool(d["removed"]),
        )


@dataclass(frozen=True, slots=True)
class DisclosedProvision:
    """One provision of the person's record: when (day in Japan), to whom, for which affair,
    by which method, under which case reference of the recipient."""

    provided_on: date
    recipient: str
    affair_id: str
    affair: str
    method: str
    case_reference: str
    resident_code: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "provided_on": self.provided_on.isoformat(),
            "recipient": self.recipient,
            "affair_id": self.affair_id,
            "affair": self.affair,
            "method": self.method,
            "case_reference": self.case_reference,
            "resident_code": self.resident_code,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DisclosedProvision:
        return cls(
            provided_on=date.fromisoformat(d["provided_on"]),
            recipient=d["recipient"],
            affair_id=d["affair_id"],
            affair=d["affair"],
            method=d["method"],
            case_reference=d["case_reference"],
            resident_code=d["resident_code"],
        )


@dataclass(frozen=True, slots=True)
class DisclosedContent:
    """What a disclosure shows, fixed when it is decided: the current record, its history
    (oldest first), and the provisions of the record within retention (oldest first).

    ``provisions_as_of`` is the day the provision log was read: a prefecture's provisions are
    the national center's answer to the question it asked when the request arrived.
    ``provisions`` is None only in contents decided before prefectures could ask (they were
    referred to the national center; ``provisions_note`` says so)."""

    as_of: date
    record: DisclosedVersion
    history: tuple[DisclosedVersion, ...]
    provisions: tuple[DisclosedProvision, ...] | None
    provisions_kept_from: str  # YYYY-MM: retention's first month
    provisions_held_by: str  # who holds the provision log (全国センター)
    provisions_note: str | None = None
    provisions_as_of: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "record": self.record.to_dict(),
            "history": [v.to_dict() for v in self.history],
            "provisions": None
            if self.provisions is None
            else [p.to_dict() for p in self.provisions],
            "provisions_kept_from": self.provisions_kept_from,
            "provisions_held_by": self.provisions_held_by,
            "provisions_note": self.provisions_note,
            "provisions_as_of": None
            if self.provisions_as_of is None
            else self.provisions_as_of.isoformat(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DisclosedContent:
        provisions = d.get("provisions")
        return cls(
            as_of=date.fromisoformat(d["as_of"]),
            record=DisclosedVersion.from_dict(d["record"]),
            history=tuple(DisclosedVersion.from_dict(v) for v in d["history"]),
            provisions=None
            if provisions is None
            else tuple(DisclosedProvision.from_dict(p) for p in provisions),
            provisions_kept_from=d["provisions_kept_from"],
            provisions_held_by=d["provisions_held_by"],
            provisions_note=d.get("provisions_note"),
            provisions_as_of=None
            if d.get("provisions_as_of") is None
            else date.fromisoformat(d["provisions_as_of"]),
        )

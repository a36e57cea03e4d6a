"""Builders shared by the disclosure tests: people at the national center (one of them with a
resident-code change), their provisions — immediate rows and a real batch job's segment —, a
prefecture's copy, and request forms."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from jukinet.clock import Clock, FixedClock
from jukinet.domain.disclosure import (
    Channel,
    DisclosureForm,
    EvidenceKind,
    Office,
    RequesterKind,
)
from jukinet.domain.identity import ChangeReason, IdentityRecord
from jukinet.domain.provision import ProvisionMethod
from jukinet.net.messages import PREFECTURE_NODE, Role
from jukinet.net.pki import NetworkPKI
from jukinet.net.transport import InProcessTransport
from jukinet.nodes.roles import build_prefectural, national_center_of
from jukinet.services.disclosure import DisclosureService
from jukinet.services.national.batch.service import BatchProvisionService
from jukinet.services.national.provision import ProvisionService
from jukinet.store import provision_log
from jukinet.store.db import write_transaction
from jukinet.store.identity_records import NATIONAL, PREFECTURAL, apply_versions
from jukinet.store.tenancy import tenant
from tests.support.provision import (
    PENSION,
    first_affair,
    national_record,
    resident_code,
    store_national,
)

NOW = datetime(2014, 3, 31, 1, 0, tzinfo=UTC)  # 2014-03-31 10:00 in Japan
TODAY = date(2014, 3, 31)
TAX = "国税庁"

SUZUKI = "鈴木　一郎"
TANAKA = "田中　花子"
SATO = "佐藤　次郎"


@dataclass(frozen=True)
class World:
    """Who is where: ``suzuki`` (old code, then a new one), ``tanaka`` (another person in the
    same batch job), ``sato`` (never provided)."""

    suzuki_old: str
    suzuki: str
    tanaka: str
    sato: str
    batch_job: str
    affair: str


DISCLOSURE_INTAKE = {
    "received_on": "2014-03-20",
    "request_method": "visit",
    "delivery_method": "visit",
    "requester_kind": "person",
    "requester_name": "鈴木　一郎",
    "resident_code": "24727059608",
    "name": "鈴木　一郎",
    "birth_date": "1950-05-05",
    "evidence": ["drivers_licence"],
}
"""A well-formed intake over HTTP (``POST /disclosures/{office}/requests``)."""


def clock() -> FixedClock:
    return FixedClock(NOW)


def build_national(engine: Engine, files: Path, clock: Clock) -> World:
    """Records, history and provisions at the national center."""
    ProvisionService(engine, clock).seed()
    affair = first_affair(engine)
    old, new = resident_code(11), resident_code(12)
    tanaka, sato = resident_code(21), resident_code(31)
    born = date(1950, 5, 5)
    store_national(
        engine,
        [
            national_record(11, SUZUKI, birth_date=born),
            national_record(21, TANAKA, birth_date=date(1960, 1, 2)),
            national_record(31, SATO, birth_date=date(1970, 3, 4)),
        ],
        clock,
    )
    changes: list[tuple[IdentityRecord, str | None]] = [
        (
            national_record(
                11,
                SUZUKI,
                birth_date=born,
                address="東京都千代田区永田町一丁目7番1号",
                change_reason=ChangeReason.MOVE_WITHIN,
                change_date=date(2010, 6, 1),
            ),
            None,
        ),
        (
            national_record(
                12,
                SUZUKI,
                birth_date=born,
                address="東京都千代田区永田町一丁目7番1号",
                change_reason=ChangeReason.RESIDENT_CODE_CHANGE,
                change_date=date(2012, 4, 2),
            ),
            old,
        ),
    ]
    with write_transaction(engine) as conn:
        for record, previous in changes:
            apply_versions(
                conn,
                NATIONAL,
                [(record, previous)],
                tenant=None,
                source="m-131016",
                source_seq=2,
                at=clock.now(),
            )
        for at, code, case in (
            (datetime(2006, 12, 1, 3, tzinfo=UTC), old, "too-old"),  # beyond 7 years
            (datetime(2011, 5, 10, 3, tzinfo=UTC), old, "NK-2011-1"),
            (datetime(2013, 9, 2, 3, tzinfo=UTC), new, "NK-2013-9"),
            (datetime(2013, 9, 2, 4, tzinfo=UTC), tanaka, "TANAKA-ONLY"),
        ):
            provision_log.append_log(
                conn,
                provided_at=at,
                recipient=PENSION,
                affair_id=affair,
                method=ProvisionMethod.IMMEDIATE.value,
                resident_code=code,
                case_reference=case,
                request_id=f"req-{case}",
            )
    batch = BatchProvisionService(engine, clock, files)
    data = (
        f"row_id,resident_code,name,birth_date,sex,address\np1,{new},,,,\np2,{tanaka},,,,\n"
    ).encode()
    submission = batch.submit(
        PENSION, affair, batch.stage_bytes(data), method=ProvisionMethod.BATCH_LINE
    )
    batch.run_pending()
    return World(old, new, tanaka, sato, submission.job.id, affair)


def store_prefectural(engine: Engine, pref_code: str, record: IdentityRecord, clock: Clock) -> None:
    with write_transaction(engine) as conn, tenant(conn, pref_code=pref_code):
        apply_versions(
            conn,
            PREFECTURAL,
            [(record, None)],
            tenant=pref_code,
            source=f"m-{record.lg_code}",
            source_seq=1,
            at=clock.now(),
        )


def prefecture_desk(engine: Engine, tmp_path: Path, pref_code: str = "13") -> DisclosureService:
    """A prefecture's desk on ``engine`` with the prefectural node's real credentials; its
    questions to the national center wait in the outbox (no peer is connected)."""
    c = clock()
    pki = NetworkPKI.init(tmp_path / "pki", NOW - timedelta(days=1))
    creds = pki.issue_node(PREFECTURE_NODE, Role.PREFECTURE.value, now=NOW)
    node = build_prefectural(engine, creds, pki.trust_store(), c, InProcessTransport())
    return DisclosureService(engine, Office(pref_code), c, national_center_of(node))


def form(code: str, name: str = SUZUKI, **kw: object) -> DisclosureForm:
    """A well-formed visit by the person with a driver's licence, answered at a visit."""
    base = DisclosureForm(
        office=Office("national"),
        received_on=date(2014, 3, 20),
        request_method=Channel.VISIT,
        delivery_method=Channel.VISIT,
        requester_kind=RequesterKind.PERSON,
        requester_name=name,
        subject_resident_code=code,
        subject_name=name,
        subject_birth_date=date(1950, 5, 5),
        evidence=frozenset({EvidenceKind.DRIVERS_LICENCE}),
    )
    return replace(base, **kw)  # type: ignore[arg-type]

"""Tier consistency: views, comparison and repair (DESIGN.md, "Consistency").

The comparison runs on both databases by loading municipal entries and upper-tier records into
one database (every node's tables exist in every database); repair runs on an embedded network.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from jukinet.clock import FixedClock
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.register import (
    EntryStatus,
    ItemChange,
    NewEntry,
    RegisterEntry,
    Removal,
    ResidentKind,
)
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.consistency import (
    MunicipalityReport,
    TierName,
    check_municipality,
    municipal_view,
    prefectural_view,
    repair,
)
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import (
    NATIONAL,
    PREFECTURAL,
    apply_version,
    digest_of,
    digest_of_fingerprints,
    record_fingerprint,
)
from jukinet.store.register import insert_entry
from jukinet.store.tables import (
    national_identity_records,
    prefectural_identity_records,
)

CHIYODA, SHIBUYA, KAMAKURA = "131016", "131130", "142042"
AT = datetime(2014, 3, 3, 1, 0, tzinfo=UTC)
M, P, N = TierName.MUNICIPALITY, TierName.PREFECTURE, TierName.NATIONAL


def entry(code: str, i: int, *, lg_code: str = CHIYODA, removed: bool = False) -> RegisterEntry:
    return RegisterEntry(
        lg_code=lg_code,
        resident_code=code,
        status=EntryStatus.REMOVED if removed else EntryStatus.ACTIVE,
        name=f"山田　{i}郎",
        birth_date=date(1980, 1, 1 + i % 28),
        sex=Sex.MALE,
        address=f"東京都千代田区千代田{i}番",
        household_id=f"{i:010d}",
        relationship="世帯主",
        kind=ResidentKind.NATIONAL,
        entry_date=date(1980, 1, 1),
        change_reason=ChangeReason.DEATH if removed else ChangeReason.BIRTH,
        change_date=date(2014, 1, 1) if removed else date(1980, 1, 1),
        version=2 if removed else 1,
    )


def to_upper(engine: Engine, record: IdentityRecord, *, national: bool = True) -> None:
    with write_transaction(engine) as conn:
        apply_version(
            conn,
            PREFECTURAL,
            record,
            None,
            tenant=record.lg_code[:2],
            source=f"municipality/{record.lg_code}",
            source_seq=1,
            at=AT,
        )
        if national:
            apply_version(
                conn,
                NATIONAL,
                record,
                None,
                tenant=None,
                source="prefecture",
                source_seq=1,
                at=AT,
            )


@pytest.fixture
def loaded(engine: Engine) -> tuple[Engine, list[str]]:
    """Five active residents and one removed, identical at every tier, plus a neighbour."""
    codes = draw_resident_codes(random.Random(7), 8)
    entries = [entry(c, i) for i, c in enumerate(codes[:5])]
    entries.append(entry(codes[5], 5, removed=True))
    entries.append(entry(codes[6], 6, lg_code=SHIBUYA))
    with write_transaction(engine) as conn:
        for e in entries:
            insert_entry(conn, e, AT)
    for e in entries:
        to_upper(engine, e.identity_record())
    return engine, codes


def check(engine: Engine) -> MunicipalityReport:
    return check_municipality(CHIYODA, municipal=engine, prefectural=engine, national=engine)


def test_identical_tiers_are_clean(loaded: tuple[Engine, list[str]]) -> None:
    engine, _codes = loaded
    report = check(engine)
    assert report.clean
    assert report.counts == {M: 5, P: 5, N: 5}  # the removed entry and Shibuya left out
    assert len(set(report.digests.values())) == 1
    assert report.differing_codes == ()


def test_view_digest_equals_digest_of_records(loaded: tuple[Engine, list[str]]) -> None:
    engine, codes = loaded
    records = [entry(c, i).identity_record() for i, c in enumerate(codes[:5])]
    with read_transaction(engine) as conn:
        view = municipal_view(conn, CHIYODA)
    assert view == digest_of(records)
    assert digest_of_fingerprints({r.resident_code: record_fingerprint(r) for r in records}) == (
        digest_of(records)
    )


def test_missing_different_and_extra_are_told_apart(loaded: tuple[Engine, list[str]]) -> None:
    engine, codes = loaded
    stranger = entry(codes[7], 7).identity_record()  # never registered in Chiyoda
    with write_transaction(engine) as conn:
        conn.execute(
            delete(prefectural_identity_records).where(
                prefectural_identity_records.c.resident_code == codes[0]
            )
        )
        conn.execute(
            update(national_identity_records)
            .where(national_identity_records.c.resident_code == codes[1])
            .values(name="山田　改竄")
        )
        conn.execute(  # the removal reverted at the prefecture
            update(prefectural_identity_records)
            .where(prefectural_identity_records.c.resident_code == codes[5])
            .values(removed=False, change_reason="birth")
        )
    to_upper(engine, stranger, national=False)
    report = check(engine)
    assert not report.clean
    mp, pn = report.comparison(M, P), report.comparison(P, N)
    assert mp.missing == (codes[0],)
    assert mp.extra == tuple(sorted([codes[5], codes[7]]))
    assert mp.different == ()
    assert (mp.lower_count, mp.upper_count) == (5, 6)
    assert pn.missing == tuple(sorted([codes[5], codes[7]]))
    assert pn.extra == (codes[0],)
    assert pn.different == (codes[1],)
    assert report.findings(codes[1]) == ["different at national"]
    assert report.findings(codes[0]) == ["missing at prefecture", "extra at national"]
    assert set(report.differing_codes) == {codes[0], codes[1], codes[5], codes[7]}


def test_superseded_and_other_tenants_are_not_counted(loaded: tuple[Engine, list[str]]) -> None:
    engine, codes = loaded
    with write_transaction(engine) as conn:
        conn.execute(
            update(prefectural_identity_records)
            .where(prefectural_identity_records.c.resident_code == codes[0])
            .values(superseded_by=codes[7])
        )
        row = conn.execute(
            select(prefectural_identity_records).where(
                prefectural_identity_records.c.resident_code == codes[1]
            )
        ).one()
        conn.execute(  # a Chiyoda record misfiled in Kanagawa's tenant stays out of sight
            insert(prefectural_identity_records).values(
                {**row._asdict(), "pref_code": "14", "resident_code": codes[7]}
            )
        )
    with read_transaction(engine) as conn:
        view = prefectural_view(conn, CHIYODA)
    assert set(view.codes) == set(codes[1:5])


# --- repair on a running network ------------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path, FixedClock(datetime.now(UTC)), [CHIYODA, SHIBUYA, KAMAKURA])
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


def birth(name: str) -> NewEntry:
    day = date(2014, 3, 1)
    return NewEntry(ChangeReason.BIRTH, day, name, day, Sex.FEMALE, "東京都千代田区千代田1番1号")


def net_check(net: EmbeddedNetwork, lg_code: str) -> MunicipalityReport:
    return check_municipality(
        lg_code,
        municipal=net.municipality(lg_code).node.engine,
        prefectural=net.prefecture.engine,
        national=net.national.engine,
    )


def test_clean_network_reports_clean(network: EmbeddedNetwork) -> None:
    register = network.municipality(CHIYODA).register(CHIYODA)
    codes = [register.record(birth(f"人{i}")).resident_code for i in range(4)]
    register.record(Removal(ChangeReason.DEATH, date(2014, 3, 2)), codes[0])
    register.record(ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2014, 3, 2)), codes[1])
    network.drain()
    for lg_code in (CHIYODA, SHIBUYA, KAMAKURA):
        report = net_check(network, lg_code)
        assert report.clean, report
    assert net_check(network, CHIYODA).counts == {M: 3, P: 3, N: 3}


def test_repair_resends_from_the_municipality(network: EmbeddedNetwork) -> None:
    register = network.municipality(CHIYODA).register(CHIYODA)
    codes = [register.record(birth(f"人{i}")).resident_code for i in range(5)]
    register.record(Removal(ChangeReason.DEATH, date(2014, 3, 2)), codes[2])
    new_code = register.record(
        ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2014, 3, 2)), codes[3]
    ).resident_code
    network.drain()
    stranger = "".join(draw_resident_codes(random.Random(99), 1))
    with write_transaction(network.prefecture.engine) as conn:
        t = prefectural_identity_records
        conn.execute(delete(t).where(t.c.resident_code == codes[0]))
        conn.execute(  # the death reverted: shown alive
            update(t).where(t.c.resident_code == codes[2]).values(removed=False)
        )
        row = conn.execute(select(t).where(t.c.resident_code == codes[4])).one()
        conn.execute(insert(t).values({**row._asdict(), "resident_code": stranger}))
    with write_transaction(network.national.engine) as conn:
        t = national_identity_records
        conn.execute(update(t).where(t.c.resident_code == codes[1]).values(name="改竄"))
        conn.execute(  # the former code revived
            update(t).where(t.c.resident_code == codes[3]).values(superseded_by=None)
        )

    report = net_check(network, CHIYODA)
    assert set(report.differing_codes) == {codes[0], codes[1], codes[2], codes[3], stranger}
    municipal = network.municipality(CHIYODA)
    outcome = repair(report, municipal.node.engine, municipal.links[CHIYODA], datetime.now(UTC))
    assert outcome.unresolvable == (stranger,)
    assert outcome.relinked == (codes[3],)
    assert outcome.resent == 3
    network.drain()

    after = net_check(network, CHIYODA)
    assert after.differing_codes == (stranger,)  # only its own municipality could repair it
    assert after.comparison(M, P).extra == (stranger,)
    assert after.comparison(P, N).missing == (stranger,)
    with read_transaction(network.national.engine) as conn:
        superseded = conn.execute(
            select(national_identity_records.c.superseded_by).where(
                national_identity_records.c.resident_code == codes[3]
            )
        ).scalar_one()
    assert superseded == new_code
    with write_transaction(network.prefecture.engine) as conn:
        conn.execute(
            delete(prefectural_identity_records).where(
                prefectural_identity_records.c.resident_code == stranger
            )
        )
    assert net_check(network, CHIYODA).clean


def test_repair_of_a_clean_report_sends_nothing(network: EmbeddedNetwork) -> None:
    report = net_check(network, SHIBUYA)
    municipal = network.municipality(SHIBUYA)
    outcome = repair(report, municipal.node.engine, municipal.links[SHIBUYA], datetime.now(UTC))
    assert (outcome.resent, outcome.relinked, outcome.unresolvable) == (0, (), ())
    assert network.drain() == 0

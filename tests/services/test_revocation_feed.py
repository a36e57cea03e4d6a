"""The certificate revocation feed at the national center, on SQLite and PostgreSQL: which
identity updates produce a notice, exactly once, and how a certificate authority pages
through the feed with a resumable cursor."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.domain.affairs import RecipientKind
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.revocation import RevocationCause, revocation_causes
from jukinet.net.bodies import identity_record_body, identity_update_body
from jukinet.net.envelope import Envelope, OpenedMessage
from jukinet.services.national.identity import on_identity_update
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.revocation_feed import RevocationFeed, read_feed
from jukinet.store.audit import iter_entries
from jukinet.store.db import read_transaction, write_transaction
from tests.support.provision import resident_code

CLOCK = FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))
CHIYODA, KAMAKURA = "131016", "142042"
CA = "公的個人認証サービス"

_seq = iter(range(1, 10_000))


def record(n: int = 1, **kw: Any) -> IdentityRecord:
    values: dict[str, Any] = {
        "resident_code": resident_code(n),
        "lg_code": CHIYODA,
        "name": "山田　太郎",
        "birth_date": date(1970, 5, 1),
        "sex": Sex.MALE,
        "address": "東京都千代田区千代田1番",
        "change_reason": ChangeReason.BIRTH,
        "change_date": date(1970, 5, 1),
    }
    values.update(kw)
    return IdentityRecord(**values)


def arrive(engine: Engine, *records: IdentityRecord, previous_code: str | None = None) -> None:
    """An identity update as the prefectural center forwards it, applied by the national
    center's handler."""
    seq = next(_seq)
    body = identity_update_body([identity_record_body(r, previous_code) for r in records])
    body["origin"] = {"node": f"municipality/{records[0].lg_code}", "seq": seq}
    envelope = Envelope("m", "identity_update", "prefecture", "national", seq, CLOCK.now(), body)
    with write_transaction(engine) as conn:
        on_identity_update(conn, OpenedMessage(envelope, None), CLOCK.now())  # type: ignore[arg-type]


def causes(engine: Engine) -> list[tuple[str, tuple[RevocationCause, ...]]]:
    return [(n.resident_code, n.causes) for n in read_feed(engine, 0, 1000).notices]


# --- which changes revoke (pure) ------------------------------------------------------------


def test_first_version_and_resends_revoke_nothing() -> None:
    born = record()
    assert revocation_causes(None, born) == ()
    assert revocation_causes(born, born) == ()
    died = replace(born, change_reason=ChangeReason.DEATH, change_date=date(2014, 3, 1))
    assert revocation_causes(None, died) == ()
    assert revocation_causes(died, died) == ()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"change_reason": ChangeReason.MOVE_WITHIN, "address": "新住所"}, ("address_change",)),
        ({"change_reason": ChangeReason.NAME_CHANGE, "name": "佐藤　太郎"}, ("name_change",)),
        ({"change_reason": ChangeReason.ALIAS_CHANGE, "alias": "通称"}, ("name_change",)),
        (
            {"change_reason": ChangeReason.CORRECTION, "name": "山田　太朗", "address": "別"},
            ("name_change", "address_change"),
        ),
        ({"change_reason": ChangeReason.DEATH}, ("death",)),
        ({"change_reason": ChangeReason.MOVE_ABROAD}, ("address_change",)),
        ({"change_reason": ChangeReason.MOVE_OUT}, ()),
        ({"change_reason": ChangeReason.EX_OFFICIO_DELETION}, ()),
        ({"change_reason": ChangeReason.SEX_CHANGE, "sex": Sex.FEMALE}, ()),
        ({"change_reason": ChangeReason.CORRECTION, "birth_date": date(1970, 5, 2)}, ()),
    ],
)
def test_which_changes_revoke(change: dict[str, Any], expected: tuple[str, ...]) -> None:
    before = record()
    after = replace(before, change_date=date(2014, 3, 1), **change)
    assert tuple(c.value for c in revocation_causes(before, after)) == expected


# --- notices from identity updates ---------------------------------------------------------


def test_changes_at_the_national_center_produce_notices_once(engine: Engine) -> None:
    born = record()
    arrive(engine, born)
    moved = replace(
        born, change_reason=ChangeReason.MOVE_WITHIN, change_date=date(2014, 1, 5), address="X"
    )
    arrive(engine, moved)
    arrive(engine, moved)  # a resend after a consistency repair: no second notice
    renamed = replace(
        moved, change_reason=ChangeReason.NAME_CHANGE, change_date=date(2014, 2, 1), name="佐藤"
    )
    arrive(engine, renamed)
    died = replace(renamed, change_reason=ChangeReason.DEATH, change_date=date(2014, 3, 1))
    arrive(engine, died)
    code = born.resident_code
    assert causes(engine) == [
        (code, (RevocationCause.ADDRESS_CHANGE,)),
        (code, (RevocationCause.NAME_CHANGE,)),
        (code, (RevocationCause.DEATH,)),
    ]
    [first, *_] = read_feed(engine).notices
    assert (first.lg_code, first.change_reason, first.change_date) == (
        CHIYODA,
        ChangeReason.MOVE_WITHIN,
        date(2014, 1, 5),
    )


@pytest.mark.parametrize("move_in_first", [False, True])
def test_a_move_between_municipalities_is_one_address_change(
    engine: Engine, move_in_first: bool
) -> None:
    """The removal at the old municipality and the entry at the new one travel on different
    channels and may cross: either way one notice, from the move-in."""
    born = record()
    arrive(engine, born)
    moved_out = replace(
        born,
        change_reason=ChangeReason.MOVE_OUT,
        change_date=date(2014, 3, 1),
    )
    moved_in = replace(
        born,
        lg_code=KAMAKURA,
        change_reason=ChangeReason.MOVE_IN,
        change_date=date(2014, 3, 1),
        address="神奈川県鎌倉市御成町1番",
    )
    for version in (moved_in, moved_out) if move_in_first else (moved_out, moved_in):
        arrive(engine, version)
    [notice] = read_feed(engine).notices
    assert notice.causes == (RevocationCause.ADDRESS_CHANGE,)
    assert (notice.lg_code, notice.change_reason) == (KAMAKURA, ChangeReason.MOVE_IN)


def test_resident_code_change_and_a_first_upload_revoke_nothing(engine: Engine) -> None:
    arrive(engine, *(record(n, name=f"人{n}") for n in range(1, 6)))  # a first upload
    born = record(9)
    arrive(engine, born)
    new = replace(
        born,
        resident_code=resident_code(10),
        change_reason=ChangeReason.RESIDENT_CODE_CHANGE,
        change_date=date(2014, 3, 1),
    )
    arrive(engine, new, previous_code=born.resident_code)
    assert causes(engine) == []


# --- reading the feed --------------------------------------------------------------------------


def three_notices(engine: Engine) -> list[str]:
    codes = []
    for n in (1, 2, 3):
        born = record(n)
        arrive(engine, born)
        died = replace(born, change_reason=ChangeReason.DEATH, change_date=date(2014, 3, 1))
        arrive(engine, died)
        codes.append(born.resident_code)
    return codes


def test_the_cursor_resumes_without_gaps_or_repeats(engine: Engine) -> None:
    codes = three_notices(engine)
    first = read_feed(engine, 0, 2)
    assert [n.resident_code for n in first.notices] == codes[:2]
    assert first.more and first.next_cursor == first.notices[-1].cursor
    second = read_feed(engine, first.next_cursor, 2)
    assert [n.resident_code for n in second.notices] == codes[2:]
    assert not second.more
    cursors = [n.cursor for n in (*first.notices, *second.notices)]
    assert cursors == sorted(cursors)
    caught_up = read_feed(engine, second.next_cursor, 2)
    assert (caught_up.notices, caught_up.next_cursor, caught_up.more) == (
        [],
        second.next_cursor,
        False,
    )
    for after, limit, field in ((-1, 10, "after"), (0, 0, "limit"), (0, 1001, "limit")):
        with pytest.raises(RuleViolation) as bad:
            read_feed(engine, after, limit)
        assert bad.value.field == field


def test_only_a_certificate_authority_reads_and_every_read_is_audited(engine: Engine) -> None:
    three_notices(engine)
    provision = ProvisionService(engine, CLOCK)
    provision.seed()
    provision.add_recipient(CA, RecipientKind.CERTIFICATE_AUTHORITY.value, "test")
    feed = RevocationFeed(engine, CLOCK)
    page = feed.read(CA, 0, 10)
    assert len(page.notices) == 3
    for reader in ("日本年金機構", "unknown body"):
        with pytest.raises(RuleViolation) as refused:
            feed.read(reader)
        assert refused.value.rule == "not_a_certificate_authority"
    with read_transaction(engine) as conn:
        reads = [e for e in iter_entries(conn) if e.action == "revocation_feed.read"]
    assert [(e.actor, e.object) for e in reads] == [(f"recipient:{CA}", "after=0")]

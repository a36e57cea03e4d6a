"""The municipal register service on real SQLite and PostgreSQL: state, history, pools."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.codes import draw_resident_codes, make_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import EntryStatus, ItemChange, NewEntry, RegisterEntry, Removal
from jukinet.services.municipal.register import (
    NEW_HOUSEHOLD,
    MunicipalRegister,
    PoolExhaustedError,
)
from jukinet.store.register import PoolState, pool_code_state
from jukinet.store.tables import resident_history, residents

LG = "131016"
OTHER_LG = "271004"
CLOCK = FixedClock(datetime(2014, 3, 31, 3, 0, tzinfo=UTC))


def birth(**kw: object) -> NewEntry:
    base: dict[str, object] = {
        "reason": ChangeReason.BIRTH,
        "change_date": date(2013, 4, 1),
        "name": "山田　花子",
        "birth_date": date(2013, 4, 1),
        "sex": Sex.FEMALE,
        "address": "東京都千代田区千代田1番1号",
    }
    base.update(kw)
    return NewEntry(**base)  # type: ignore[arg-type]


def code_of(entry: RegisterEntry) -> str:
    """The resident code of a newly recorded entry (a birth always draws one from the pool)."""
    assert entry.resident_code is not None
    return entry.resident_code


@pytest.fixture
def register(engine: Engine) -> MunicipalRegister:
    reg = MunicipalRegister(engine, LG, CLOCK)
    reg.designate_codes(draw_resident_codes(random.Random(1), 5))
    return reg


def table_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(residents)).scalar_one(),
            conn.execute(select(func.count()).select_from(resident_history)).scalar_one(),
        )


def test_birth_draws_a_pool_code_and_writes_history(register: MunicipalRegister) -> None:
    entry = register.record(birth())
    assert entry.resident_code is not None  # a birth always draws a code from the pool
    with register.engine.connect() as conn:
        assert pool_code_state(conn, entry.resident_code) == PoolState.ISSUED
    [shown] = register.show(entry.resident_code)
    assert shown.current == entry
    assert [h.change_reason for h, _ in shown.history] == [ChangeReason.BIRTH]
    assert entry.relationship == "世帯主"


def test_every_version_is_kept_in_order(register: MunicipalRegister) -> None:
    code = register.record(birth()).resident_code
    assert code is not None  # a birth always draws a code from the pool
    register.record(
        ItemChange(ChangeReason.MOVE_WITHIN, date(2013, 5, 1), address="東京都千代田区神田1番"),
        code,
    )
    register.record(ItemChange(ChangeReason.NAME_CHANGE, date(2013, 6, 1), name="佐藤　花子"), code)
    register.record(Removal(ChangeReason.MOVE_OUT, date(2013, 7, 1), "大阪市北区", OTHER_LG), code)
    [shown] = register.show(code)
    assert shown.current.status is EntryStatus.REMOVED
    assert [h.version for h, _ in shown.history] == [1, 2, 3, 4]
    assert [h.change_reason for h, _ in shown.history] == [
        ChangeReason.BIRTH,
        ChangeReason.MOVE_WITHIN,
        ChangeReason.NAME_CHANGE,
        ChangeReason.MOVE_OUT,
    ]
    assert shown.history[1][0].address == "東京都千代田区神田1番"
    assert shown.history[0][0].address == "東京都千代田区千代田1番1号"


def test_refused_event_changes_nothing(register: MunicipalRegister) -> None:
    code = register.record(birth()).resident_code
    register.record(Removal(ChangeReason.DEATH, date(2013, 5, 1)), code)
    before = table_counts(register.engine)
    with pytest.raises(RuleViolation) as err:
        register.record(Removal(ChangeReason.DEATH, date(2013, 6, 1)), code)
    assert (err.value.field, err.value.rule) == ("resident_code", "not_active")
    assert table_counts(register.engine) == before


def test_refused_new_entry_does_not_consume_a_pool_code(register: MunicipalRegister) -> None:
    with register.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(residents)).scalar_one()
    with pytest.raises(RuleViolation):
        register.record(birth(birth_date=date(2013, 3, 1)))  # birth on another day
    assert register.record(birth()).resident_code  # the pool still has its codes
    with register.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(residents)).scalar_one() == before + 1


def test_resident_code_change_retires_the_old_code_for_ever(register: MunicipalRegister) -> None:
    old = register.record(birth()).resident_code
    assert old is not None  # a birth always draws a code from the pool
    new = register.record(ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2013, 5, 1)), old)
    assert new.resident_code is not None  # the change draws the new code from the pool
    assert new.resident_code != old
    with register.engine.connect() as conn:
        assert pool_code_state(conn, old) == PoolState.RETIRED
        assert pool_code_state(conn, new.resident_code) == PoolState.ISSUED
    with pytest.raises(RuleViolation) as err:
        register.record(birth(resident_code=old))
    assert err.value.rule == "retired"
    assert register.show(old)[0].current.resident_code == new.resident_code


def test_exhausted_pool_is_reported(engine: Engine) -> None:
    reg = MunicipalRegister(engine, LG, CLOCK)
    with pytest.raises(PoolExhaustedError):
        reg.record(birth())
    assert table_counts(engine) == (0, 0)


def test_households_join_and_new(register: MunicipalRegister) -> None:
    head = register.record(
        birth(name="山田　太郎", birth_date=date(1980, 1, 1), reason=ChangeReason.EX_OFFICIO_ENTRY)
    )
    child = register.record(birth(household_id=head.household_id, relationship="子"))
    assert child.household_id == head.household_id and child.relationship == "子"
    with pytest.raises(RuleViolation) as err:
        register.record(birth(household_id="9999999999", relationship="子"))
    assert err.value.rule == "unknown_household"
    split = register.record(
        ItemChange(
            ChangeReason.MOVE_WITHIN,
            date(2013, 6, 1),
            address="東京都千代田区神田2番",
            household_id=NEW_HOUSEHOLD,
        ),
        child.resident_code,
    )
    assert split.household_id not in {head.household_id, NEW_HOUSEHOLD}
    assert split.relationship == "世帯主"


def test_move_in_keeps_code_and_refuses_unknown_former_municipality(
    register: MunicipalRegister,
) -> None:
    code = make_resident_code("2472705960")
    entry = register.record(
        birth(
            reason=ChangeReason.MOVE_IN,
            birth_date=date(1970, 1, 1),
            resident_code=code,
            previous_address="大阪府大阪市北区梅田1丁目",
            previous_lg_code=OTHER_LG,
        )
    )
    assert entry.resident_code == code
    with pytest.raises(RuleViolation) as err:
        register.record(
            birth(
                reason=ChangeReason.MOVE_IN,
                birth_date=date(1970, 1, 1),
                resident_code=make_resident_code("1111111111"),
                previous_address="どこか",
                previous_lg_code="019992",
            )
        )
    assert (err.value.field, err.value.rule) == ("previous_lg_code", "unknown_municipality")


def test_municipalities_sharing_a_database_are_isolated(
    register: MunicipalRegister, engine: Engine
) -> None:
    code = register.record(birth()).resident_code
    assert code is not None  # a birth always draws a code from the pool
    other = MunicipalRegister(engine, OTHER_LG, CLOCK)
    assert other.show(code) == []
    assert other.search(name="山田") == []
    assert [e.resident_code for e in register.search(name="山田")] == [code]


def test_search_uses_keys_and_hides_removed_by_default(register: MunicipalRegister) -> None:
    code = register.record(birth(name="山田 花子")).resident_code
    assert [e.resident_code for e in register.search(name="山田　花子")] == [code]
    assert register.search(birth_date=date(2013, 4, 1))[0].resident_code == code
    register.record(Removal(ChangeReason.DEATH, date(2013, 5, 1)), code)
    assert register.search(name="山田") == []
    assert register.search(name="山田", include_removed=True)[0].status is EntryStatus.REMOVED
    with pytest.raises(RuleViolation):
        register.search()


def test_unknown_municipality_is_refused(engine: Engine) -> None:
    with pytest.raises(RuleViolation) as err:
        MunicipalRegister(engine, "019992", CLOCK)
    assert err.value.rule == "unknown_municipality"


def test_codes_are_drawn_in_random_order_not_code_order(engine: Engine) -> None:
    """Siblings registered one after the other must not get codes that sort together."""
    reg = MunicipalRegister(engine, LG, CLOCK)
    pool = draw_resident_codes(random.Random(11), 60)
    reg.designate_codes(pool)
    drawn = [code_of(reg.record(birth(name=f"子{i}"))) for i in range(10)]
    assert len(set(drawn)) == 10 and set(drawn) <= set(pool)
    assert drawn != sorted(pool)[:10]
    assert sorted(drawn) != sorted(pool)[:10]

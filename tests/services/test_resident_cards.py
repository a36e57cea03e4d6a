"""Resident cards at one municipality, on real SQLite and PostgreSQL: issue, loss and return,
PIN reset, and the register events that void a card in their own transaction."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select, text

from jukinet.clock import FixedClock
from jukinet.domain.cards import CardStatus, CardType, VoidReason, pin_proof
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import ItemChange, NewEntry, Removal
from jukinet.services.municipal.cards import ResidentCardService
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store.cards import resident_card_events, resident_cards

LG = "131016"
OTHER_LG = "271004"
CLOCK = FixedClock(datetime(2014, 3, 31, 3, 0, tzinfo=UTC))


@pytest.fixture
def register(engine: Engine) -> MunicipalRegister:
    reg = MunicipalRegister(engine, LG, CLOCK)
    reg.designate_codes(draw_resident_codes(random.Random(5), 10))
    return reg


@pytest.fixture
def service(engine: Engine) -> ResidentCardService:
    return ResidentCardService(engine, LG, CLOCK)


def resident(register: MunicipalRegister, name: str = "山田　太郎") -> str:
    entry = register.record(
        NewEntry(
            ChangeReason.EX_OFFICIO_ENTRY,
            date(2014, 1, 6),
            name,
            date(1980, 5, 5),
            Sex.MALE,
            "東京都千代田区千代田1番1号",
        )
    )
    assert entry.resident_code is not None
    return entry.resident_code


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(resident_cards)).scalar_one(),
            conn.execute(select(func.count()).select_from(resident_card_events)).scalar_one(),
        )


def test_issue_type_a_and_b(register: MunicipalRegister, service: ResidentCardService) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234", actor="operator:registrar")
    assert card.card_number.startswith(LG) and len(card.card_number) == 16
    assert (card.issued_on, card.expires_on) == (date(2014, 3, 31), date(2024, 3, 30))
    assert card.pin_hash == pin_proof(card.card_number, "1234")
    view = service.show(card.card_number)
    assert view.face == {"name": "山田　太郎"}
    assert [(e.action, e.outcome, e.actor) for e in view.events] == [
        ("issue", "ok", "operator:registrar")
    ]
    with register.engine.connect() as conn:  # the PIN itself is nowhere
        stored = conn.execute(text("SELECT pin_hash, pin_kdf FROM resident_cards")).one()
    assert "1234" not in stored.pin_hash and stored.pin_kdf.startswith("scrypt:")

    other = resident(register, "山田　花子")
    photo = service.issue(other, CardType.B, "0000", photo_ref="photos/0001.jpg")
    assert photo.usable_as_photo_id
    assert service.show(photo.card_number).face == {
        "name": "山田　花子",
        "address": "東京都千代田区千代田1番1号",
        "birth_date": "1980-05-05",
        "sex": "男",
    }


def test_refusals_are_recorded_and_change_nothing(
    register: MunicipalRegister, service: ResidentCardService
) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234")
    without_card = resident(register, "山田　花子")
    before = counts(register.engine)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: service.issue(code, CardType.A, "1234"), "card_exists"),
        (lambda: service.issue(without_card, CardType.B, "1234"), "photo_ref"),
        (lambda: service.issue(code, CardType.A, "12a4"), "pin_format"),
        (lambda: service.resume(card.card_number, "パスポート"), "not_suspended"),
        (lambda: service.suspend("1310169999999999"), "not_found"),
    ]
    for i, (action, rule) in enumerate(cases, start=1):
        with pytest.raises(RuleViolation) as refused:
            action()
        assert rule in (refused.value.rule, refused.value.field)
        cards, events = counts(register.engine)
        assert (cards, events) == (before[0], before[1] + i)  # one refused event each
    refused_events = [e for e in service.show(card.card_number).events if e.outcome == "refused"]
    assert [e.rule for e in refused_events] == ["not_suspended"]
    assert refused_events[0].detail["field"] == "card_number"
    assert service.show(card.card_number).card == card  # untouched


def test_loss_resume_return_and_reissue(
    register: MunicipalRegister, service: ResidentCardService
) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234")
    assert service.suspend(card.card_number).status is CardStatus.SUSPENDED
    with pytest.raises(RuleViolation) as refused:
        service.resume(card.card_number, "")
    assert refused.value.rule == "identity_check_required"
    assert service.resume(card.card_number, "運転免許証").status is CardStatus.ACTIVE
    service.suspend(card.card_number)
    returned = service.give_back(card.card_number, VoidReason.LOST)
    assert (returned.status, returned.void_reason) == (CardStatus.VOID, VoidReason.LOST)
    again = service.issue(code, CardType.A, "5678")  # one valid card at a time
    assert again.card_number != card.card_number
    assert [c.card_number for c in service.cards_of(code)] == [again.card_number, card.card_number]
    actions = [e.action for e in service.show(card.card_number).events]
    assert actions == ["issue", "suspend", "resume", "resume", "suspend", "return"]


def test_pin_reset_needs_an_identity_check(
    register: MunicipalRegister, service: ResidentCardService
) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234")
    with pytest.raises(RuleViolation) as refused:
        service.reset_pin(card.card_number, "4321", "  ")
    assert refused.value.rule == "identity_check_required"
    reset = service.reset_pin(card.card_number, "4321", "パスポート TK1234567")
    assert reset.pin_hash == pin_proof(card.card_number, "4321")
    assert reset.pin_failures == 0


@pytest.mark.parametrize(
    ("event", "voided_by"),
    [
        (Removal(ChangeReason.MOVE_OUT, date(2014, 3, 30), "大阪市北区", OTHER_LG), "move_out"),
        (Removal(ChangeReason.DEATH, date(2014, 3, 30)), "death"),
        (Removal(ChangeReason.MOVE_ABROAD, date(2014, 3, 30), "Paris"), "entry_removed"),
        (ItemChange(ChangeReason.RESIDENT_CODE_CHANGE, date(2014, 3, 30)), "resident_code_change"),
        (ItemChange(ChangeReason.MOVE_WITHIN, date(2014, 3, 30), address="神田1番"), None),
    ],
)
def test_register_events_void_the_card(
    register: MunicipalRegister,
    service: ResidentCardService,
    event: Removal | ItemChange,
    voided_by: str | None,
) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234")
    register.record(event, code)
    after = service.show(card.card_number)
    if voided_by is None:
        assert after.card.status is CardStatus.ACTIVE
        return
    assert after.card.status is CardStatus.VOID
    assert after.card.void_reason == VoidReason(voided_by)
    assert after.card.status_changed_on == date(2014, 3, 30)
    assert after.events[-1].action == "void" and after.events[-1].actor == "register"


def test_a_refused_register_event_leaves_the_card_alone(
    register: MunicipalRegister, service: ResidentCardService
) -> None:
    code = resident(register)
    card = service.issue(code, CardType.A, "1234")
    with pytest.raises(RuleViolation):
        register.record(Removal(ChangeReason.DEATH, date(2014, 4, 2)), code)  # in the future
    assert service.show(card.card_number).card.status is CardStatus.ACTIVE


def test_cards_are_per_municipality(
    register: MunicipalRegister, service: ResidentCardService, engine: Engine
) -> None:
    card = service.issue(resident(register), CardType.A, "1234")
    other = ResidentCardService(engine, OTHER_LG, CLOCK)
    with pytest.raises(RuleViolation) as refused:
        other.show(card.card_number)
    assert refused.value.rule == "not_found"


def test_card_tables_are_tenant_tables(postgres_engine: Engine) -> None:
    with postgres_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relname IN "
                "('resident_cards', 'resident_card_events', 'card_move_outs', "
                "'card_move_out_people', 'card_move_requests') ORDER BY relname"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("card_move_out_people", True),
        ("card_move_outs", True),
        ("card_move_requests", True),
        ("resident_card_events", True),
        ("resident_cards", True),
    ]

"""A prefecture's disclosure desk over the network: it asks the national center for the
person's provisions in a signed message when the request arrives, discloses the answer, waits
visibly while the national center is unreachable, and refuses an answer about anyone else.
Separate databases per node (the national one on SQLite and on PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from jukinet.clock import FixedClock
from jukinet.domain.disclosure import Decision, Office, RefusalReason
from jukinet.domain.errors import RuleViolation
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE, MessageType
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.nodes.roles import national_center_of
from jukinet.services.disclosure import DisclosureService, StoredRequest, disclosure_service
from jukinet.store import audit as audit_store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.tables import message_rejections
from tests.support.disclosure import (
    SUZUKI,
    TODAY,
    World,
    build_national,
    clock,
    form,
    store_prefectural,
)
from tests.support.provision import national_record, network_with_national_on

ACTOR = "operator:desk"
BORN = date(1950, 5, 5)


@pytest.fixture
def c() -> FixedClock:
    return clock()


@pytest.fixture
def network(engine: Engine, tmp_path: Path, c: FixedClock) -> Iterator[EmbeddedNetwork]:
    net = network_with_national_on(engine, tmp_path, c)
    yield net
    net.dispose()


@pytest.fixture
def world(network: EmbeddedNetwork, c: FixedClock) -> World:
    assert network.national.files is not None
    built = build_national(network.national.engine, network.national.files, c)
    tokyo_copy = national_record(12, SUZUKI, birth_date=BORN, address="東京都千代田区1番")
    store_prefectural(network.prefecture.engine, "13", tokyo_copy, c)  # the new code only
    return built


def desk(network: EmbeddedNetwork, pref_code: str, c: FixedClock) -> DisclosureService:
    return disclosure_service(
        Office(pref_code),
        c,
        national_engine=None,  # as in `jukinet serve --role prefecture`
        national_files=None,
        prefectural_engine=network.prefecture.engine,
        national_center=national_center_of(network.prefecture),
    )


def received(desk: DisclosureService, world: World) -> StoredRequest:
    """Suzuki's own request, received at the desk's office."""
    return desk.intake(replace(form(world.suzuki), office=desk.office), actor=ACTOR)


def _rejections(network: EmbeddedNetwork) -> list[str]:
    with read_transaction(network.prefecture.engine) as conn:
        return [r.reason for r in conn.execute(select(message_rejections))]


def test_the_prefecture_asks_the_national_center_and_discloses_its_answer(
    network: EmbeddedNetwork, world: World, c: FixedClock
) -> None:
    tokyo = desk(network, "13", c)
    request = received(tokyo, world)
    asked = request.provisions_asked
    assert asked is not None and asked.answer is None  # asked in the intake's transaction
    with pytest.raises(RuleViolation) as pending:
        tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    assert pending.value.rule == "provisions_pending"
    assert "not reached the national center yet" in pending.value.message
    assert tokyo.get(request.id).decision is None  # the refused step changed nothing

    network.drain()  # question up, answer down
    answered = tokyo.get(request.id).provisions_asked
    assert answered is not None and answered.answer is not None
    content = tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR).content
    assert content is not None and content.provisions is not None
    # Tokyo knows only the new code; the national center followed it back to the old one
    assert [v.resident_code for v in content.history] == [world.suzuki]
    assert [p.case_reference for p in content.provisions] == ["NK-2011-1", "NK-2013-9", "p1"]
    assert {p.resident_code for p in content.provisions} == {world.suzuki_old, world.suzuki}
    assert content.provisions_as_of == TODAY
    assert content.provisions_held_by == "全国センター"
    assert content.provisions_note is not None and "全国センター" in content.provisions_note
    # the national center recorded whose history left it, for which office
    with read_transaction(network.national.engine) as conn:
        sent = [
            e for e in audit_store.iter_entries(conn) if e.action == "disclosure.provision_history"
        ]
    assert len(sent) == 1
    assert sent[0].actor == PREFECTURE_NODE
    assert sent[0].object == f"disclosure/13/{answered.reference}"
    assert json.loads(sent[0].detail) == {"codes": 2, "provisions": 3, "kept_from": "2007-03"}
    assert world.suzuki not in sent[0].detail  # the audit log carries no codes


def test_nothing_of_another_office_or_person_is_asked_or_shown(
    network: EmbeddedNetwork, world: World, c: FixedClock
) -> None:
    tokyo, osaka = desk(network, "13", c), desk(network, "27", c)
    request = received(tokyo, world)
    with pytest.raises(RuleViolation) as hidden:
        osaka.get(request.id)
    assert hidden.value.rule == "not_found"
    at_osaka = received(osaka, world)
    assert at_osaka.refusal_reasons == (RefusalReason.PERSON_NOT_FOUND,)
    assert at_osaka.provisions_asked is None  # a refused request asks nothing
    network.drain()
    with read_transaction(network.national.engine) as conn:
        asked = [
            e.object
            for e in audit_store.iter_entries(conn)
            if e.action == "disclosure.provision_history"
        ]
    question = tokyo.get(request.id).provisions_asked
    assert question is not None
    assert asked == [f"disclosure/13/{question.reference}"]
    content = tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR).content
    assert content is not None and content.provisions is not None
    assert "TANAKA-ONLY" not in {p.case_reference for p in content.provisions}


def test_an_unreachable_national_center_leaves_the_question_pending_and_loses_nothing(
    network: EmbeddedNetwork, world: World, c: FixedClock
) -> None:
    tokyo = desk(network, "13", c)
    network.transport.down.add(NATIONAL_NODE)
    request = received(tokyo, world)
    network.drain()
    with pytest.raises(RuleViolation) as pending:
        tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    assert pending.value.rule == "provisions_pending"
    assert (
        "1 failed attempt(s), last error: transport: national is unreachable"
        in pending.value.message
    )
    assert tokyo.overdue(request.due_on) == []  # not yet
    assert [o.request.id for o in tokyo.overdue(request.due_on + timedelta(days=1))] == [request.id]

    network.transport.down.clear()
    c.advance(timedelta(hours=1))  # past the retry's backoff
    network.drain()
    decided = tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    assert decided.content is not None and decided.content.provisions is not None
    assert len(decided.content.provisions) == 3


def test_asking_again_replaces_the_question_and_the_late_answer_is_ignored(
    network: EmbeddedNetwork, world: World, c: FixedClock
) -> None:
    tokyo = desk(network, "13", c)
    request = received(tokyo, world)
    first = request.provisions_asked
    again = tokyo.ask_provisions(request.id, actor=ACTOR).provisions_asked
    assert first is not None and again is not None and again.reference != first.reference
    network.drain()  # both questions answered; the first answer matches no question now
    kept = tokyo.get(request.id).provisions_asked
    assert kept is not None and kept.reference == again.reference and kept.answer is not None
    assert _rejections(network) == []  # superseded, not malformed
    tokyo.decide(request.id, Decision.DISCLOSE, actor=ACTOR)
    with pytest.raises(RuleViolation) as decided:
        tokyo.ask_provisions(request.id, actor=ACTOR)
    assert decided.value.rule == "not_awaiting_decision"


def test_an_answer_about_someone_else_is_quarantined_and_changes_nothing(
    network: EmbeddedNetwork, world: World, c: FixedClock
) -> None:
    tokyo = desk(network, "13", c)
    request = received(tokyo, world)
    asked = request.provisions_asked
    assert asked is not None
    network.transport.down.add(NATIONAL_NODE)  # the real question stays queued
    network.drain()
    provision = {
        "provided_on": "2013-09-02",
        "recipient": "日本年金機構",
        "affair_id": world.affair,
        "affair": "x",
        "method": "immediate",
        "case_reference": "TANAKA-ONLY",
        "resident_code": world.tanaka,  # not among the codes the answer names
    }
    forged = {
        "reference": asked.reference,
        "office": "13",
        "resident_codes": [world.suzuki],
        "as_of": TODAY.isoformat(),
        "kept_from": "2007-03",
        "provisions": [provision],
    }
    national = network.national
    with write_transaction(national.engine) as conn:
        national.outbox.enqueue(
            conn,
            national.credentials[NATIONAL_NODE],
            receiver=PREFECTURE_NODE,
            message_type=MessageType.PROVISION_HISTORY,
            body=forged,
            now=c.now(),
        )
    network.drain()
    assert any("other_person" in r for r in _rejections(network))
    kept = tokyo.get(request.id).provisions_asked
    assert kept is not None and kept.answer is None  # still waiting for a proper answer

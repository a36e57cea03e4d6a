"""Wide-area certificates across municipal nodes: a request at 鎌倉市 for residents of 千代田区,
answered over the network; every refusal and every fault leaves a clear, recorded state."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jukinet.clock import FixedClock
from jukinet.domain.certificates import (
    DEFAULT_FEE_YEN,
    Options,
    Requester,
    RequestStatus,
    WideAreaRequest,
)
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import NewEntry, RegisterEntry, Removal
from jukinet.net.envelope import open_message
from jukinet.net.messages import MessageType
from jukinet.net.transport import Faults, FaultyTransport, Transport
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.municipal.certificates import WideAreaCertificates
from jukinet.store import certificates as certificate_store
from jukinet.store.audit import iter_entries
from jukinet.store.db import read_transaction
from jukinet.store.register import available_pool_size
from jukinet.store.tables import outbox
from tests.conftest import postgres_schema_per_node

CHIYODA, KAMAKURA = "131016", "142042"
HOME_NODE = f"municipality/{CHIYODA}"
DOMICILE = "東京都千代田区千代田1番"
ADDRESS = "東京都千代田区神田神保町一丁目2番地"
PLAIN = Options()  # neither household items nor the resident code


@dataclass(frozen=True)
class Household:
    head: RegisterEntry
    wife: RegisterEntry
    son: RegisterEntry  # died: his entry is removed
    neighbour: RegisterEntry  # another household


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))


def start(
    tmp_path: Path,
    clock: FixedClock,
    database_url: Callable[[str], str] | None = None,
    wrap: Callable[[Transport], Transport] | None = None,
) -> EmbeddedNetwork:
    net = build_embedded(tmp_path, clock, [CHIYODA, KAMAKURA], database_url=database_url, wrap=wrap)
    for m in net.municipal:
        m.request_initial_pools()
    for _ in range(100):  # a faulty network needs retries (and time) before pools arrive
        net.drain()
        if all(pool_size(net, lg) for lg in (CHIYODA, KAMAKURA)):
            break
        clock.advance(timedelta(minutes=1))
    return net


def pool_size(net: EmbeddedNetwork, lg_code: str) -> int:
    with read_transaction(net.municipality(lg_code).node.engine) as conn:
        return available_pool_size(conn, lg_code)


@pytest.fixture(params=["sqlite", "postgresql"])
def network(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[EmbeddedNetwork]:
    database_url = None
    if request.param == "postgresql":
        database_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    net = start(tmp_path, clock, database_url)
    yield net
    net.dispose()


def arrive(name: str, birth: date, sex: Sex, **kw: object) -> NewEntry:
    return NewEntry(
        ChangeReason.MOVE_IN_FROM_ABROAD,
        date(2013, 4, 1),
        name,
        birth,
        sex,
        ADDRESS,
        registered_domicile=DOMICILE,
        **kw,  # type: ignore[arg-type]
    )


def household(net: EmbeddedNetwork) -> Household:
    register = net.municipality(CHIYODA).register(CHIYODA)
    head = register.record(
        arrive("山田　太郎", date(1970, 5, 1), Sex.MALE, name_kana="ヤマダ タロウ")
    )
    wife = register.record(
        arrive(
            "山田　花子",
            date(1972, 8, 9),
            Sex.FEMALE,
            household_id=head.household_id,
            relationship="妻",
            former_surname="佐藤",
        )
    )
    son = register.record(
        arrive(
            "山田　一郎",
            date(2000, 1, 2),
            Sex.MALE,
            household_id=head.household_id,
            relationship="子",
        )
    )
    son = register.record(Removal(ChangeReason.DEATH, date(2014, 2, 1)), son.resident_code)
    neighbour = register.record(arrive("鈴木　次郎", date(1980, 3, 4), Sex.MALE))
    net.drain()
    return Household(head, wife, son, neighbour)


def counter(net: EmbeddedNetwork) -> WideAreaCertificates:
    return net.municipality(KAMAKURA).certificates[KAMAKURA]


def ask(
    net: EmbeddedNetwork,
    requester: RegisterEntry,
    *subjects: RegisterEntry,
    options: Options = PLAIN,
    name: str | None = None,
) -> int:
    assert requester.resident_code is not None
    request = WideAreaRequest(
        home_lg_code=CHIYODA,
        requester=Requester(requester.resident_code, name or requester.name, requester.birth_date),
        subject_codes=tuple(str(s.resident_code) for s in subjects),
        options=options,
        identity_document="運転免許証",
    )
    return counter(net).request(request, "operator:clerk").stored.id


def answers_at_home(net: EmbeddedNetwork) -> list[dict[str, object]]:
    with read_transaction(net.municipality(CHIYODA).node.engine) as conn:
        return certificate_store.answers(conn, CHIYODA)


def wires_of(net: EmbeddedNetwork, lg_code: str, message_type: str) -> list[bytes]:
    node = net.municipality(lg_code).node
    with read_transaction(node.engine) as conn:
        return list(
            conn.execute(select(outbox.c.wire).where(outbox.c.type == message_type)).scalars()
        )


# --- issued ----------------------------------------------------------------------------------


def test_copy_of_self_and_spouse_omits_domicile_household_and_code(
    network: EmbeddedNetwork,
) -> None:
    family = household(network)
    number = ask(network, family.wife, family.wife, family.head)
    assert counter(network).view(number).status is RequestStatus.PENDING
    network.drain()

    view = counter(network).view(number)
    assert view.status is RequestStatus.ISSUED, view.state
    stored, persons = counter(network).issued(number)
    assert [p.name for p in persons] == ["山田　花子", "山田　太郎"]
    wife = persons[0]
    assert (wife.address, wife.former_surname, wife.birth_date) == (
        ADDRESS,
        "佐藤",
        date(1972, 8, 9),
    )
    assert all(p.household_head is None and p.relationship is None for p in persons)
    assert all(p.resident_code is None for p in persons)
    assert stored.fee_yen == DEFAULT_FEE_YEN
    assert stored.issued_on == date(2014, 3, 3)
    # the domicile never left the home municipality, not even inside the signed answer
    [wire] = wires_of(network, CHIYODA, MessageType.CERTIFICATE_ITEMS)
    home = network.municipality(CHIYODA).node
    body = open_message(home.trust, wire, network.national.clock.now()).envelope.body
    text = json.dumps(body, ensure_ascii=False)
    assert DOMICILE not in text and "registered_domicile" not in text
    assert str(family.wife.resident_code) not in json.dumps(body["persons"])
    # the home municipality recorded whose items went where
    [answer] = answers_at_home(network)
    assert answer["issuing_lg_code"] == KAMAKURA and answer["outcome"] == "items"
    assert answer["subject_codes"] == f"{family.wife.resident_code},{family.head.resident_code}"


def test_household_items_and_code_only_when_asked_for(network: EmbeddedNetwork) -> None:
    family = household(network)
    counter(network).set_fee(350, "operator:admin")
    number = ask(
        network,
        family.wife,
        family.wife,
        options=Options(include_household=True, include_resident_code=True),
    )
    network.drain()
    stored, [wife] = counter(network).issued(number)
    assert (wife.household_head, wife.relationship) == ("山田　太郎", "妻")
    assert wife.resident_code == family.wife.resident_code
    assert stored.fee_yen == 350  # the fee in force is recorded with the issuance
    with read_transaction(network.municipality(KAMAKURA).node.engine) as conn:
        assert certificate_store.fees_collected(
            conn, KAMAKURA, date(2014, 3, 1), date(2014, 3, 31)
        ) == (1, 350)


def test_default_subject_is_the_requester(network: EmbeddedNetwork) -> None:
    family = household(network)
    number = ask(network, family.head)
    network.drain()
    _stored, persons = counter(network).issued(number)
    assert [p.name for p in persons] == ["山田　太郎"]


# --- refusals --------------------------------------------------------------------------------


def refusal_of(net: EmbeddedNetwork, number: int) -> tuple[str | None, str | None]:
    net.drain()
    view = counter(net).view(number)
    assert view.status is RequestStatus.REFUSED, view.state
    assert view.stored.fee_yen is None and view.stored.persons == ()
    with pytest.raises(RuleViolation) as not_issued:
        counter(net).issued(number)
    assert not_issued.value.rule == "not_issued"
    return view.stored.refusal_rule, view.stored.refusal_message


def test_removed_entry_is_refused(network: EmbeddedNetwork) -> None:
    family = household(network)
    rule, message = refusal_of(network, ask(network, family.head, family.son))
    assert rule == "removed"
    assert message is not None and "除票" in message and "死亡" in message
    assert answers_at_home(network)[0]["refusal_rule"] == "removed"


def test_a_removed_requester_is_refused(network: EmbeddedNetwork) -> None:
    family = household(network)
    rule, _message = refusal_of(network, ask(network, family.son))
    assert rule == "removed"


def test_person_of_another_household_is_refused(network: EmbeddedNetwork) -> None:
    family = household(network)
    rule, message = refusal_of(network, ask(network, family.wife, family.wife, family.neighbour))
    assert rule == "other_household"
    assert (
        message == f"{family.neighbour.resident_code} is not a member of the requester's household"
    )


def test_photo_id_not_matching_the_entry_is_refused(network: EmbeddedNetwork) -> None:
    family = household(network)
    rule, _message = refusal_of(network, ask(network, family.wife, name="山田　良子"))
    assert rule == "identity_mismatch"


def test_a_code_unknown_at_home_is_refused(network: EmbeddedNetwork) -> None:
    family = household(network)
    stranger = (
        network.municipality(KAMAKURA)
        .register(KAMAKURA)
        .record(
            NewEntry(
                ChangeReason.BIRTH,
                date(2014, 3, 1),
                "高橋　三郎",
                date(2014, 3, 1),
                Sex.MALE,
                "鎌倉市1番",
            )
        )
    )
    rule, _message = refusal_of(network, ask(network, family.wife, family.wife, stranger))
    assert rule == "not_found"


def test_bad_input_changes_nothing(network: EmbeddedNetwork) -> None:
    family = household(network)
    assert family.wife.resident_code is not None
    wife = Requester(family.wife.resident_code, family.wife.name, family.wife.birth_date)
    code = family.wife.resident_code
    bad = {
        ("home_lg_code", "same_municipality"): WideAreaRequest(
            KAMAKURA, wife, (), Options(), "旅券"
        ),
        ("home_lg_code", "check_digit"): WideAreaRequest("131017", wife, (), Options(), "旅券"),
        ("home_lg_code", "unknown_municipality"): WideAreaRequest(
            "019992", wife, (), Options(), "旅券"
        ),
        ("identity_document", "required"): WideAreaRequest(CHIYODA, wife, (), Options(), " "),
        ("subject_codes", "duplicate"): WideAreaRequest(
            CHIYODA, wife, (code, code), Options(), "旅券"
        ),
        ("subject_codes[0]", "check_digit"): WideAreaRequest(
            CHIYODA, wife, ("24727059609",), Options(), "旅券"
        ),
    }
    for (field, rule), request in bad.items():
        with pytest.raises(RuleViolation) as refused:
            counter(network).request(request, "operator:clerk")
        assert (refused.value.field, refused.value.rule) == (field, rule)
    assert counter(network).requests() == []
    assert wires_of(network, KAMAKURA, MessageType.CERTIFICATE_ITEMS_REQUEST) == []


# --- faults ----------------------------------------------------------------------------------


def test_unreachable_home_stays_pending_then_recovers(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    family = household(network)
    network.transport.down.add(HOME_NODE)
    number = ask(network, family.wife)
    network.drain()
    view = counter(network).view(number)
    assert view.status is RequestStatus.PENDING
    assert view.delivery is not None and view.delivery.delivered_at is None
    assert view.delivery.attempts >= 1
    assert f"{HOME_NODE} is unreachable" in str(view.delivery.last_error)
    assert view.state.startswith(f"pending: {HOME_NODE} not reached after")
    assert "retrying" in view.state
    assert [v.stored.id for v in counter(network).requests(RequestStatus.PENDING)] == [number]
    assert answers_at_home(network) == []

    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))  # past the retry backoff
    network.drain()
    assert counter(network).view(number).status is RequestStatus.ISSUED
    assert len(answers_at_home(network)) == 1


def test_cancelled_while_pending_ignores_the_late_answer(
    network: EmbeddedNetwork, clock: FixedClock
) -> None:
    family = household(network)
    network.transport.down.add(HOME_NODE)
    number = ask(network, family.wife)
    network.drain()
    assert counter(network).cancel(number, "operator:clerk").status is RequestStatus.CANCELLED
    assert counter(network).cancel(number, "operator:clerk").status is RequestStatus.CANCELLED
    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))
    network.drain()
    view = counter(network).view(number)
    assert view.status is RequestStatus.CANCELLED and view.stored.fee_yen is None
    assert len(answers_at_home(network)) == 1  # the home answered; the counter ignored it


def test_an_answered_request_cannot_be_cancelled(network: EmbeddedNetwork) -> None:
    family = household(network)
    number = ask(network, family.wife)
    network.drain()
    with pytest.raises(RuleViolation) as refused:
        counter(network).cancel(number, "operator:clerk")
    assert refused.value.rule == "already_answered"


def test_through_a_faulty_network_each_request_is_answered_once(
    tmp_path: Path, clock: FixedClock
) -> None:
    faults = Faults(drop_request=0.2, drop_response=0.3, duplicate=0.4, reorder=0.3, replay=0.3)

    def faulty(inner: Transport) -> Transport:
        return FaultyTransport(inner, faults, seed=11)

    net = start(tmp_path, clock, wrap=faulty)
    try:
        family = household(net)
        numbers = [ask(net, family.wife) for _ in range(3)]
        numbers.append(ask(net, family.head, family.neighbour))
        for _ in range(100):
            net.drain()
            if all(counter(net).view(n).status is not RequestStatus.PENDING for n in numbers):
                break
            clock.advance(timedelta(minutes=1))
        statuses = [counter(net).view(n).status for n in numbers]
        assert statuses == [RequestStatus.ISSUED] * 3 + [RequestStatus.REFUSED]
        assert len(answers_at_home(net)) == 4  # one answer per request, none twice
        with read_transaction(net.municipality(KAMAKURA).node.engine) as conn:
            issued = certificate_store.count_by_status(conn, KAMAKURA)[RequestStatus.ISSUED]
            assert issued == 3
            fees = certificate_store.fees_collected(
                conn, KAMAKURA, date(2014, 3, 3), date(2014, 3, 3)
            )
        assert fees == (3, 3 * DEFAULT_FEE_YEN)
    finally:
        net.dispose()


def test_every_request_and_answer_is_in_the_audit_logs(network: EmbeddedNetwork) -> None:
    family = household(network)
    ask(network, family.wife)
    network.drain()
    with read_transaction(network.municipality(KAMAKURA).node.engine) as conn:
        actions = [e.action for e in iter_entries(conn)]
    assert "certificate.request" in actions and "certificate.issue" in actions
    with read_transaction(network.municipality(CHIYODA).node.engine) as conn:
        received = [e.detail for e in iter_entries(conn) if e.action == "message.receive"]
    assert any(MessageType.CERTIFICATE_ITEMS_REQUEST.value in d for d in received)
    with read_transaction(network.municipality(KAMAKURA).node.engine) as conn:
        pending = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        ).scalar_one()
    assert pending == 0

"""Fuzz every message type a node handles, proving the receiver's rule: a correctly signed,
in-sequence message whose body is malformed is either applied or quarantined with a
``RuleViolation`` naming the field — never an exception that fails the whole batch, which the
sender would retry forever while every later message of the channel waits behind it (a poison
message).

For every (type, sender role, receiver role) the network allows, a valid body is the start: one
the real services sent while the network was set up, or built the way the sending service
builds it, fresh for each example where applying it uses something up (a person to move, a
pending request to answer, a newer CRL or policy). Hypothesis mutates it — keys dropped, values
replaced by arbitrary JSON (null, booleans, integers beyond BIGINT, floats, text with a NUL
character, nested lists and objects), wrong types at depth — and a sweep changes every value of
it in turn (null; a NUL character; the first and the last day there is; beyond BIGINT;
dropped), what random bodies reach only by luck. Each body is sealed with the legitimate
sender's credentials under the channel's next sequence number and handed to the receiver as
its delivery worker would. It must be acknowledged as applied or rejected; a rejected one is
kept in ``message_rejections`` (quarantined, with its bytes, the reason naming a field of the
body) and the next valid message on the channel applies. The valid body itself applies.

Heartbeats are unsequenced (sent directly, never retried, no channel that could block): a
malformed one must be rejected the same way, only without a channel to advance.

Every node runs on SQLite and on PostgreSQL (one schema per node): PostgreSQL refuses what
SQLite stores (NUL characters, text longer than its column). Bounded for CI: one network per
database for the module, a few derandomized examples per message type, no example database.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from jukinet.clock import FixedClock
from jukinet.domain.cards import CardType, card_number_of, pin_proof
from jukinet.domain.certificates import Options, Requester, WideAreaRequest
from jukinet.domain.disclosure import DisclosedProvision, Office
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.provision_history import HistoryAnswer
from jukinet.domain.register import NewEntry
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.messages import (
    ALLOWED,
    NATIONAL_NODE,
    PREFECTURE_NODE,
    UNSEQUENCED,
    MessageType,
    Role,
    municipal_node,
)
from jukinet.net.pki import NODES_PURPOSE, NetworkPKI, NodeCredentials
from jukinet.net.policy import DEFAULT_POLICY, CryptoPolicy, sign_policy
from jukinet.net.transport import Ack, AckStatus
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.nodes.node import Node
from jukinet.nodes.roles import national_center_of
from jukinet.services.disclosure import DisclosureService, disclosure_service
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.spine import delivery_of
from jukinet.store.tables import inbox_channels, message_rejections, outbox
from tests.conftest import postgres_schema_per_node
from tests.support.disclosure import SUZUKI, form
from tests.support.provision import resident_code

NOW = datetime(2014, 3, 31, 1, 0, tzinfo=UTC)  # 2014-03-31 10:00 in Japan
TODAY = date(2014, 3, 31)
CHIYODA, SHIBUYA = "131016", "131130"  # both in Tokyo (prefecture 13)
PIN = "2580"
OLD_ADDRESS = "東京都千代田区千代田1番1号"
NEW_ADDRESS = "東京都渋谷区宇田川町1番1号"
YAMADA = "山田　太郎"

EXAMPLES = 20
"""Generated bodies per message type (and per kind of valid body of one)."""

FIELD = re.compile(r"^(?P<field>[^\s:]+): .* \[(?P<rule>[a-z0-9_]+)\]$", re.DOTALL)
"""A quarantine reason as ``RuleViolation`` words it: ``field: message [rule]``."""


# --- arbitrary JSON and mutations of a valid body -------------------------------------------

TRICKY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "x" * 5000,
        "2014-02-30",
        "9999-12-31",
        "0001-01-01",
        "2014-03-31T10:00:00",
        CHIYODA,
        municipal_node(CHIYODA),
        "ｘ",
        "null",
    ]
)
TRICKY_INTS = st.sampled_from(
    [0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**63) - 1, 10**30]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    TRICKY_INTS,
    st.floats(allow_nan=False, allow_infinity=False),  # NaN and infinity are not JSON
    st.text(max_size=12),
    TRICKY_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

Path_ = tuple[str | int, ...]


def _slots(value: object, path: Path_ = ()) -> Iterator[Path_]:
    """The path of every value inside ``value`` (not ``value`` itself)."""
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        yield (*path, key)
        yield from _slots(item, (*path, key))


def _objects(value: object, path: Path_ = ()) -> Iterator[Path_]:
    """The path of every object in ``value``, ``value`` included."""
    items: Any = ()
    if isinstance(value, dict):
        yield path
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        yield from _objects(item, (*path, key))


def _at(value: Any, path: Path_) -> Any:
    for key in path:
        value = value[key]
    return value


def _twisted(draw: st.DrawFn, value: object) -> object:
    """A value of the same kind gone wrong: what a careless or hostile sender puts there."""
    if isinstance(value, bool):
        return draw(st.sampled_from([not value, int(value), str(value).lower()]))
    if isinstance(value, int):
        return draw(st.one_of(TRICKY_INTS, st.just(float(value)), st.just(str(value))))
    if isinstance(value, str):  # (the draws may not depend on the value: it is fresh each time)
        cut = min(draw(st.integers(min_value=0, max_value=40)), len(value))
        return draw(
            st.sampled_from(
                [
                    value[:cut] + "\x00" + value[cut:],
                    value[:cut] + "\x00" + value[cut + 1 :],
                    value * (4000 // max(len(value), 1) + 2),
                    "",
                    " " * len(value),
                    value + "\n",
                    value[:cut],
                ]
            )
        )
    if isinstance(value, list):
        return draw(st.sampled_from([[], value * 2, [*value, None], [value], {"0": value}]))
    if isinstance(value, dict):
        return draw(st.sampled_from([{}, [value], list(value)]))
    return draw(JSON_VALUES)


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with up to three mutations anywhere in it (none: the valid body itself)."""
    body = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        how = draw(st.sampled_from(["drop", "replace", "twist", "add"]))
        if how == "add":
            where = _at(body, draw(st.sampled_from(list(_objects(body)))))
            where[draw(st.text(max_size=8))] = draw(JSON_VALUES)
            continue
        slots = list(_slots(body))
        if not slots:
            continue
        path = draw(st.sampled_from(slots))
        parent, key = _at(body, path[:-1]), path[-1]
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = draw(JSON_VALUES)
        else:
            parent[key] = _twisted(draw, parent[key])
    return body


# --- the network and valid bodies ---------------------------------------------------------


@dataclass
class World:
    """The network under fuzz, the bodies its services sent while it was set up, and what
    each example needs fresh (people, requests, CRL numbers, policy versions)."""

    network: EmbeddedNetwork
    pki: NetworkPKI
    sent: dict[tuple[str, str, str], dict[str, Any]]  # (type, sender, receiver) -> a body
    suzuki: str  # at Chiyoda: asks for wide-area certificates and for a disclosure
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def node(self, node_id: str) -> Node:
        for node in self.network.nodes:
            if node_id in node.credentials:
                return node
        raise KeyError(node_id)

    def credentials(self, node_id: str) -> NodeCredentials:
        return self.node(node_id).credentials[node_id]

    def body(self, kind: MessageType, sender: str, receiver: str) -> dict[str, Any]:
        return copy.deepcopy(self.sent[kind, sender, receiver])


def _bodies(node: Node) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The body of the newest message of each (type, sender, receiver) in the node's outbox."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    with read_transaction(node.engine) as conn:
        for row in conn.execute(select(outbox).order_by(outbox.c.id)):
            payload = json.loads(base64.b64decode(json.loads(row.wire)["payload"]))
            found[row.type, row.sender, row.receiver] = payload["body"]
    return found


def _person(network: EmbeddedNetwork, name: str, born: date) -> str:
    """A new resident of Chiyoda; their resident code."""
    register = network.municipality(CHIYODA).register(CHIYODA)
    entry = register.record(
        NewEntry(ChangeReason.EX_OFFICIO_ENTRY, date(2014, 1, 6), name, born, Sex.MALE, OLD_ADDRESS)
    )
    assert entry.resident_code is not None
    return entry.resident_code


def _set_up(network: EmbeddedNetwork, home: Path) -> World:
    """Let every service send its messages once, for real, and keep what they sent."""
    chiyoda, shibuya = network.municipality(CHIYODA), network.municipality(SHIBUYA)
    for m in network.municipal:
        m.request_initial_pools()
    network.drain()
    yamada = _person(network, YAMADA, date(1975, 4, 1))
    suzuki = _person(network, SUZUKI, date(1950, 5, 5))  # the disclosure form's person
    card = chiyoda.cards[CHIYODA].issue(yamada, CardType.B, PIN, photo_ref="photos/yamada.jpg")
    network.drain()  # identity updates up to the national center
    # a card-based move of Yamada to Shibuya: request, certificate, move-in notice
    chiyoda.card_moves[CHIYODA].file_special_move_out(
        yamada,
        card.card_number,
        destination_lg_code=SHIBUYA,
        destination_address=NEW_ADDRESS,
        declared_move_date=TODAY,
    )
    shibuya.card_moves[SHIBUYA].move_in_with_card(
        former_lg_code=CHIYODA,
        card_number=card.card_number,
        pin=PIN,
        holder_resident_code=yamada,
        new_address=NEW_ADDRESS,
        moved_on=TODAY,
    )
    # a wide-area certificate of Suzuki at Shibuya: request and items
    shibuya.certificates[SHIBUYA].request(_wide_area_request(suzuki), "operator:clerk")
    network.drain()
    # what stays undelivered from here on: a disclosure request at the prefecture (its
    # question is fuzzed at the national center)
    _desk(network).intake(form(suzuki, office=Office("13")), actor="operator:desk")
    sent: dict[tuple[str, str, str], dict[str, Any]] = {}
    for node in network.nodes:
        sent |= _bodies(node)
    return World(network, NetworkPKI.load(home / "pki"), sent, suzuki)


def _wide_area_request(code: str) -> WideAreaRequest:
    return WideAreaRequest(
        home_lg_code=CHIYODA,
        requester=Requester(code, SUZUKI, date(1950, 5, 5)),
        subject_codes=(),
        options=Options(),
        identity_document="運転免許証",
    )


def _desk(network: EmbeddedNetwork) -> DisclosureService:
    """Tokyo's disclosure desk: it asks the national center for a person's provisions."""
    return disclosure_service(
        Office("13"),
        network.prefecture.clock,
        national_engine=None,
        national_files=None,
        prefectural_engine=network.prefecture.engine,
        national_center=national_center_of(network.prefecture),
    )


# --- a valid body of each type, fresh for each example --------------------------------------

M_CHIYODA, M_SHIBUYA = municipal_node(CHIYODA), municipal_node(SHIBUYA)


def sent_as_is(kind: MessageType, sender: str, receiver: str) -> Callable[[World], dict[str, Any]]:
    """What the service sent while the network was set up: valid again and again."""

    def as_sent(world: World) -> dict[str, Any]:
        return world.body(kind, sender, receiver)

    return as_sent


def pool_request(world: World) -> dict[str, Any]:
    body = world.body(MessageType.POOL_REQUEST, M_CHIYODA, NATIONAL_NODE)
    return {**body, "count": 5}  # a real request asks for 1000: valid, only slower


def pool_allocation(world: World) -> dict[str, Any]:
    """Codes never designated before, as the national center draws them (3, not 1000)."""
    body = world.body(MessageType.POOL_ALLOCATION, NATIONAL_NODE, M_CHIYODA)
    n = 3 * next(world.counter)
    return {**body, "codes": [resident_code(8_000_000_000 + n + i) for i in range(3)]}


def move_in_notice(world: World) -> dict[str, Any]:
    """Shibuya's notice about someone still active at Chiyoda (a new person each time)."""
    body = world.body(MessageType.MOVE_IN_NOTICE, M_SHIBUYA, M_CHIYODA)
    n = next(world.counter)
    name, born = f"移転　{n}郎", date(1980, 1, 1 + n % 28)
    code = _person(world.network, name, born)
    return {**body, "resident_code": code, "name": name, "birth_date": born.isoformat()}


def move_out_certificate_request(world: World) -> dict[str, Any]:
    """Shibuya's request for a card whose holder declared a card-based move-out to Shibuya
    (a new person with a new card each time, so the certificate is issued)."""
    chiyoda = world.network.municipality(CHIYODA)
    n = next(world.counter)
    holder = _person(world.network, f"転出　{n}郎", date(1980, 1, 1 + n % 28))
    card = chiyoda.cards[CHIYODA].issue(holder, CardType.A, PIN)
    chiyoda.card_moves[CHIYODA].file_special_move_out(
        holder,
        card.card_number,
        destination_lg_code=SHIBUYA,
        destination_address=NEW_ADDRESS,
        declared_move_date=TODAY,
    )
    body = world.body(MessageType.MOVE_OUT_CERTIFICATE_REQUEST, M_SHIBUYA, M_CHIYODA)
    return {
        **body,
        "request_id": f"00000000-0000-4000-8000-{n:012d}",
        "card_number": card.card_number,
        "pin_proof": pin_proof(card.card_number, PIN),
        "holder_resident_code": holder,
    }


def _pending_card_move_in(world: World) -> tuple[str, str, str]:
    """A card-based move-in from Chiyoda pending at Shibuya, of a new person with a new card:
    its request id, the holder's code and the card number."""
    n = next(world.counter)
    holder, card_number = resident_code(9_000_000_000 + n), card_number_of(CHIYODA, 10**9 + n)
    pending = (
        world.network.municipality(SHIBUYA)
        .card_moves[SHIBUYA]
        .move_in_with_card(
            former_lg_code=CHIYODA,
            card_number=card_number,
            pin=PIN,
            holder_resident_code=holder,
            new_address=NEW_ADDRESS,
            moved_on=TODAY,
        )
    )
    return pending.request_id, holder, card_number


def move_out_certificate(world: World) -> dict[str, Any]:
    """Chiyoda's certificate for a card-based move-in pending at Shibuya (a new person with
    a new card each time, so the move-in registers someone)."""
    request_id, holder, card_number = _pending_card_move_in(world)
    body = world.body(MessageType.MOVE_OUT_CERTIFICATE, M_CHIYODA, M_SHIBUYA)
    [person] = body["people"]
    card = {**person["card"], "card_number": card_number, "resident_code": holder}
    return {
        **body,
        "request_id": request_id,
        "holder_resident_code": holder,
        "people": [{**person, "resident_code": holder, "card": card}],
    }


def move_out_certificate_foreign(world: World) -> dict[str, Any]:
    """The same for a foreign resident: the certificate carries the foreign items."""
    body = move_out_certificate(world)
    [person] = body["people"]
    foreign = {
        "nationality": "アメリカ合衆国",
        "category": "mid_long_term",
        "foreign_resident_since": "2012-07-09",
        "residence_status": "技術",
        "period_of_stay": "3年",
        "stay_expiry": "2015-07-08",
        "residence_card_number": "AB12345678CD",
    }
    foreigner = {
        "kind": "foreign",
        "registered_domicile": None,
        "alias": "ジョン",
        "foreign": foreign,
    }
    return {**body, "people": [{**person, **foreigner}]}


def move_out_certificate_refused(world: World) -> dict[str, Any]:
    """Chiyoda's refusal of a card-based move-in pending at Shibuya, as ``_refusal_body``
    of ``services.municipal.card_move`` words one."""
    request_id, _, _ = _pending_card_move_in(world)
    return {
        "request_id": request_id,
        "outcome": "refused",
        "former_lg_code": CHIYODA,
        "field": "pin",
        "rule": "wrong_pin",
        "message": "wrong PIN: 2 attempts left",
    }


def certificate_items_request(world: World) -> dict[str, Any]:
    body = world.body(MessageType.CERTIFICATE_ITEMS_REQUEST, M_SHIBUYA, M_CHIYODA)
    return {**body, "request_id": f"00000000-0000-4000-8000-{next(world.counter):012d}"}


def certificate_items(world: World) -> dict[str, Any]:
    """Chiyoda's answer to a request pending at Shibuya (a new request each time)."""
    certificates = world.network.municipality(SHIBUYA).certificates[SHIBUYA]
    pending = certificates.request(_wide_area_request(world.suzuki), "operator:clerk")
    body = world.body(MessageType.CERTIFICATE_ITEMS, M_CHIYODA, M_SHIBUYA)
    return {**body, "request_id": pending.stored.request_id}


def certificate_items_refused(world: World) -> dict[str, Any]:
    """Chiyoda's refusal of a request pending at Shibuya, as the home municipality words one."""
    certificates = world.network.municipality(SHIBUYA).certificates[SHIBUYA]
    pending = certificates.request(_wide_area_request(world.suzuki), "operator:clerk")
    return {
        "request_id": pending.stored.request_id,
        "outcome": "refused",
        "rule": "identity_mismatch",
        "field": "requester",
        "message": "the name and date of birth on the photo ID are not those of the entry",
    }


def provision_history(world: World) -> dict[str, Any]:
    """The national center's answer to a question the prefecture's desk asked for a request
    received now (a new question each time), built as the national center builds it."""
    request = _desk(world.network).intake(
        form(world.suzuki, office=Office("13")), actor="operator:desk"
    )
    assert request.provisions_asked is not None
    provision = DisclosedProvision(
        provided_on=date(2013, 9, 2),
        recipient="日本年金機構",
        affair_id="1",
        affair="国民年金法による年金である給付の支給",
        method="immediate",
        case_reference="NK-2013-9",
        resident_code=world.suzuki,
    )
    answer = HistoryAnswer(
        request.provisions_asked.reference,
        Office("13"),
        (world.suzuki,),
        TODAY,
        "2007-03",
        (provision,),
    )
    return answer.to_body()


def crl_update(world: World) -> dict[str, Any]:
    """A newer CRL of the node issuing CA each time, as ``DocumentDistribution`` sends it."""
    crl = world.pki.issuers[NODES_PURPOSE].issue_crl([], 1000 + next(world.counter), NOW)
    der = crl.public_bytes(Encoding.DER)
    return {"purpose": NODES_PURPOSE, "crl": base64.b64encode(der).decode()}


def policy_update(world: World) -> dict[str, Any]:
    """A newer policy (the default rules) each time, signed as the national center signs."""
    policy = CryptoPolicy.from_rules(next(world.counter), NOW, DEFAULT_POLICY.rules)
    document = sign_policy(world.credentials(NATIONAL_NODE), policy)
    return {"version": policy.version, "document": document.decode()}


def heartbeat(world: World) -> dict[str, Any]:
    """As ``Node.send_heartbeats`` reports a backlog."""
    return {"backlog": 3, "oldest_pending_at": NOW.isoformat(), "last_error": "transport: down"}


@dataclass(frozen=True)
class Case:
    kind: MessageType
    sender: str
    receiver: str
    valid: Callable[[World], dict[str, Any]]
    fields: frozenset[str] = frozenset()
    """What a reason may name besides the body's own keys (e.g. the document inside)."""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.sender} -> {self.receiver} ({self.valid.__name__})"


T = MessageType
CASES = (
    Case(
        T.IDENTITY_UPDATE,
        M_CHIYODA,
        PREFECTURE_NODE,
        sent_as_is(T.IDENTITY_UPDATE, M_CHIYODA, PREFECTURE_NODE),
    ),
    Case(
        T.IDENTITY_UPDATE,
        PREFECTURE_NODE,
        NATIONAL_NODE,
        sent_as_is(T.IDENTITY_UPDATE, PREFECTURE_NODE, NATIONAL_NODE),
    ),
    Case(T.POOL_REQUEST, M_CHIYODA, NATIONAL_NODE, pool_request),
    Case(T.POOL_ALLOCATION, NATIONAL_NODE, M_CHIYODA, pool_allocation),
    Case(T.MOVE_IN_NOTICE, M_SHIBUYA, M_CHIYODA, move_in_notice),
    Case(T.MOVE_OUT_CERTIFICATE_REQUEST, M_SHIBUYA, M_CHIYODA, move_out_certificate_request),
    Case(T.MOVE_OUT_CERTIFICATE, M_CHIYODA, M_SHIBUYA, move_out_certificate),
    Case(T.MOVE_OUT_CERTIFICATE, M_CHIYODA, M_SHIBUYA, move_out_certificate_foreign),
    Case(T.MOVE_OUT_CERTIFICATE, M_CHIYODA, M_SHIBUYA, move_out_certificate_refused),
    Case(T.HEARTBEAT, M_CHIYODA, NATIONAL_NODE, heartbeat),
    Case(T.HEARTBEAT, PREFECTURE_NODE, NATIONAL_NODE, heartbeat),
    Case(T.CRL_UPDATE, NATIONAL_NODE, PREFECTURE_NODE, crl_update),
    Case(T.CRL_UPDATE, NATIONAL_NODE, M_CHIYODA, crl_update),
    Case(T.POLICY_UPDATE, NATIONAL_NODE, PREFECTURE_NODE, policy_update, frozenset({"policy"})),
    Case(T.POLICY_UPDATE, NATIONAL_NODE, M_CHIYODA, policy_update, frozenset({"policy"})),
    Case(T.CERTIFICATE_ITEMS_REQUEST, M_SHIBUYA, M_CHIYODA, certificate_items_request),
    Case(T.CERTIFICATE_ITEMS, M_CHIYODA, M_SHIBUYA, certificate_items),
    Case(T.CERTIFICATE_ITEMS, M_CHIYODA, M_SHIBUYA, certificate_items_refused),
    Case(
        T.PROVISION_HISTORY_REQUEST,
        PREFECTURE_NODE,
        NATIONAL_NODE,
        sent_as_is(T.PROVISION_HISTORY_REQUEST, PREFECTURE_NODE, NATIONAL_NODE),
    ),
    Case(T.PROVISION_HISTORY, NATIONAL_NODE, PREFECTURE_NODE, provision_history),
)


def _role(node_id: str) -> Role:
    return Role(node_id.split("/", 1)[0])


def test_every_allowed_message_is_fuzzed() -> None:
    """A new message type (or a new sender of one) needs its case here."""
    assert {(c.kind, _role(c.sender), _role(c.receiver)) for c in CASES} == ALLOWED


# --- delivering and checking ------------------------------------------------------------------


def deliver(world: World, case: Case, body: dict[str, Any]) -> tuple[Envelope, Ack]:
    """Seal ``body`` with the sender's credentials under the channel's next sequence number
    (0 for an unsequenced type) and hand it to the receiver as a delivery worker does."""
    receiver = world.node(case.receiver)
    seq = 0
    if case.kind not in UNSEQUENCED:
        with read_transaction(receiver.engine) as conn:
            last = conn.execute(
                select(inbox_channels.c.last_seq).where(
                    inbox_channels.c.receiver == case.receiver,
                    inbox_channels.c.sender == case.sender,
                )
            ).scalar_one_or_none()
        seq = (last or 0) + 1
    envelope = Envelope(new_message_id(), case.kind, case.sender, case.receiver, seq, NOW, body)
    wire = seal(world.credentials(case.sender), envelope)
    [ack] = world.network.transport.send(case.receiver, [wire])
    return envelope, ack


def wrong_with(world: World, case: Case, base: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Deliver ``body``; what breaks the rule, or None: applied (the valid body always), or
    quarantined properly and then the next valid message of the channel applies. An
    exception escaping the receiver is raised."""
    envelope, ack = deliver(world, case, body)
    if ack.status is AckStatus.APPLIED:
        return None
    if ack.status is not AckStatus.REJECTED or body == base:
        return f"{'the valid' if body == base else 'a'} body was {ack.status}: {ack.reason}"
    wrong = _badly_quarantined(world, case, base, envelope.id, ack.reason or "")
    if wrong is None:
        _, after = deliver(world, case, case.valid(world))  # the channel goes on
        if after.status is not AckStatus.APPLIED:
            wrong = f"quarantined, then a valid message was {after.status}: {after.reason}"
    return wrong


def _badly_quarantined(
    world: World, case: Case, base: dict[str, Any], message_id: str, reason: str
) -> str | None:
    """What is wrong with a quarantine: a reason naming no field of the body, or the message
    not kept with its bytes."""
    match = FIELD.match(reason)
    if match is None:
        return f"quarantined with a reason naming no field: {reason!r}"
    root = re.split(r"[.\[]", match["field"], maxsplit=1)[0]
    if root not in base and root not in case.fields:
        return f"quarantined naming {match['field']!r}, no field of the body: {reason!r}"
    with read_transaction(world.node(case.receiver).engine) as conn:
        kept = conn.execute(
            select(message_rejections.c.quarantined, message_rejections.c.wire).where(
                message_rejections.c.message_id == message_id
            )
        ).all()
    if [(q, w is not None) for q, w in kept] != [(True, True)]:
        return f"quarantined but not kept with its bytes: {kept!r}"
    return None


def fuzz(world: World, case: Case) -> str | None:
    """Run the case's examples; None, or the failure with the body Hypothesis shrank it to."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
    )
    @given(data=st.data())
    def examples(data: st.DataObject) -> None:
        base = case.valid(world)
        body = data.draw(mutated(base), label="body")
        wrong = wrong_with(world, case, base, body)
        assert wrong is None, wrong

    try:
        examples()
    except Exception as exc:  # every failing message type is reported, not only the first
        found = exc.exceptions if isinstance(exc, ExceptionGroup) else (exc,)
        return "\n".join(f"{case.label}: {_described(e)}" for e in found)
    return None


def _described(exc: BaseException) -> str:
    notes = "\n".join(getattr(exc, "__notes__", []))
    return f"{type(exc).__name__}: {exc}\n{notes}"


_DROP = object()


def _variants(value: object, in_object: bool) -> list[tuple[str, object]]:
    """What the sweep puts in place of ``value``: null; text with a NUL character (as long as
    before); the first and the last day there is, for a date; an integer beyond BIGINT;
    nothing (the key dropped)."""
    variants: list[tuple[str, object]] = [("null", None)]
    if isinstance(value, str):
        middle = len(value) // 2
        variants.append(("with a NUL character", f"{value[:middle]}\x00{value[middle + 1 :]}"))
        if _is_date(value):
            variants += [("the first day", "0001-01-01"), ("the last day", "9999-12-31")]
    elif isinstance(value, int) and not isinstance(value, bool):
        variants.append(("beyond BIGINT", 2**63))
    if in_object:
        variants.append(("dropped", _DROP))
    return variants


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def sweep(world: World, case: Case) -> list[str]:
    """Every value of the valid body in turn replaced by each of its ``_variants``; the
    failures, each with where and what."""
    failures = []
    shape = case.valid(world)
    for path in list(_slots(shape)):
        parent = _at(shape, path[:-1])
        for label, variant in _variants(parent[path[-1]], isinstance(parent, dict)):
            base = case.valid(world)  # fresh (people, requests) of the same shape
            body = copy.deepcopy(base)
            if variant is _DROP:
                del _at(body, path[:-1])[path[-1]]
            else:
                _at(body, path[:-1])[path[-1]] = variant
            where = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
            try:
                wrong = wrong_with(world, case, base, body)
            except Exception as exc:
                wrong = f"{type(exc).__name__}: {exc}"
            if wrong is not None:
                failures.append(f"{case.label}: body{where} {label}: {wrong}")
    return failures


# --- fixtures and the tests -----------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One network per database kind for the whole module: every example starts from a fresh
    valid body and the channel's next sequence number, so examples do not depend on each
    other."""
    home = tmp_path_factory.mktemp("fuzz") / "var"
    database_url = _schemas(request, "fuzz")
    network = build_embedded(home, FixedClock(NOW), [CHIYODA, SHIBUYA], database_url=database_url)
    try:
        yield _set_up(network, home)
    finally:
        network.dispose()


def _schemas(request: pytest.FixtureRequest, prefix: str) -> Callable[[str], str] | None:
    """SQLite files (None), or a PostgreSQL schema per node named apart from other networks
    of the module and of other modules."""
    if request.param != "postgresql":
        return None
    node_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    return lambda name: node_url(f"{prefix}_{name}")


@pytest.fixture(params=["sqlite", "postgresql"])
def network(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmbeddedNetwork]:
    """A network of its own, whose outboxes carry every message."""
    database_url = _schemas(request, "outbox")
    net = build_embedded(tmp_path / "var", FixedClock(NOW), [CHIYODA], database_url=database_url)
    yield net
    net.dispose()


def test_a_malformed_message_is_applied_or_quarantined_naming_the_field(world: World) -> None:
    failures = [f for case in CASES if (f := fuzz(world, case)) is not None]
    assert not failures, "\n\n".join(failures)


def test_a_document_nested_past_the_parser_is_quarantined(world: World) -> None:
    """A policy document is JSON inside the body's JSON, parsed by the standard library: one
    nested deeper than it goes is malformed like any other (not a RecursionError)."""
    case = next(c for c in CASES if c.kind is T.POLICY_UPDATE)
    base = case.valid(world)
    assert wrong_with(world, case, base, {**base, "document": "[" * 100_000}) is None


def test_every_value_of_every_body_is_checked(world: World) -> None:
    failures = [f for case in CASES for f in sweep(world, case)]
    assert not failures, "\n".join(failures)


def test_through_the_outbox_a_poison_body_is_rejected_and_the_channel_moves_on(
    network: EmbeddedNetwork,
) -> None:
    """The same rule the way messages really travel: a pool request without a count (once a
    TypeError that failed the batch, retried forever with every later message stuck behind
    it) ends rejected in the sender's outbox, and the request after it applies."""
    chiyoda = network.municipality(CHIYODA).node
    with write_transaction(chiyoda.engine) as conn:
        sent = [
            chiyoda.outbox.enqueue(
                conn,
                chiyoda.credentials[M_CHIYODA],
                receiver=NATIONAL_NODE,
                message_type=MessageType.POOL_REQUEST,
                body=body,
                now=NOW,
            )
            for body in ({"lg_code": CHIYODA, "count": None}, {"lg_code": CHIYODA, "count": 5})
        ]
    network.drain()
    with read_transaction(chiyoda.engine) as conn:
        outcomes = [delivery_of(conn, envelope.id) for envelope in sent]
    assert [d.outcome if d else None for d in outcomes] == ["rejected", "applied"]
    with read_transaction(network.national.engine) as conn:
        [reason] = conn.execute(select(message_rejections.c.reason)).scalars()
    assert reason == "count: a whole number of codes [type]"
    assert len(network.municipality(CHIYODA).register(CHIYODA).known_codes()) == 5  # allocated

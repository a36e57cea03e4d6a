"""Bad messages are refused with a logged reason and change nothing; good ones apply once."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from math import nan
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.net.bodies import identity_record_body, identity_update_body
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.messages import PREFECTURE_NODE, MessageType, Role, municipal_node
from jukinet.net.pki import NetworkPKI, NodeCredentials
from jukinet.net.transport import Ack, AckStatus
from jukinet.nodes.node import Node
from jukinet.nodes.roles import build_prefectural
from jukinet.store.db import read_transaction
from jukinet.store.tables import message_rejections, prefectural_identity_history
from tests.net.factories import identity_record

NOW = datetime(2014, 3, 3, tzinfo=UTC)
CHIYODA = "131016"


@pytest.fixture
def pki(tmp_path: Path) -> NetworkPKI:
    return NetworkPKI.init(tmp_path / "pki", NOW - timedelta(days=1))


@pytest.fixture
def prefecture(pki: NetworkPKI, engine: Engine) -> Node:
    creds = pki.issue_node(PREFECTURE_NODE, Role.PREFECTURE.value, now=NOW)
    return build_prefectural(engine, creds, pki.trust_store(), FixedClock(NOW), _NoTransport())


class _NoTransport:
    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]:
        raise AssertionError("the receiver under test sends nothing")


@pytest.fixture
def chiyoda(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node(municipal_node(CHIYODA), Role.MUNICIPALITY.value, now=NOW)


def update(
    creds: NodeCredentials,
    seq: int,
    *,
    receiver: str = PREFECTURE_NODE,
    sender: str | None = None,
    lg_code: str = CHIYODA,
    message_type: str = MessageType.IDENTITY_UPDATE,
) -> Envelope:
    record = identity_record(lg_code=lg_code, seed=seq)
    return Envelope(
        id=new_message_id(),
        type=message_type,
        sender=sender or creds.node_id,
        receiver=receiver,
        seq=seq,
        timestamp=NOW,
        body=identity_update_body([identity_record_body(record)]),
    )


def history_rows(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(prefectural_identity_history)
            ).scalar_one()
        )


def rejections(engine: Engine) -> list[tuple[str, bool]]:
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(message_rejections.c.reason, message_rejections.c.quarantined).order_by(
                message_rejections.c.id
            )
        )
        return [(r.reason, r.quarantined) for r in rows]


def test_in_sequence_applies_once_duplicates_ignored(
    prefecture: Node, chiyoda: NodeCredentials
) -> None:
    first, second = seal(chiyoda, update(chiyoda, 1)), seal(chiyoda, update(chiyoda, 2))
    acks = prefecture.receiver.receive([first, second, first])
    assert [a.status for a in acks] == [AckStatus.APPLIED, AckStatus.APPLIED, AckStatus.DUPLICATE]
    assert prefecture.receiver.receive([second])[0].status is AckStatus.DUPLICATE
    assert history_rows(prefecture.engine) == 2


def test_gap_waits_for_the_missing_message(prefecture: Node, chiyoda: NodeCredentials) -> None:
    [ack] = prefecture.receiver.receive([seal(chiyoda, update(chiyoda, 2))])
    assert ack.status is AckStatus.GAP and ack.expected_seq == 1
    assert history_rows(prefecture.engine) == 0


def test_tampered_message_is_refused_and_changes_nothing(
    prefecture: Node, chiyoda: NodeCredentials
) -> None:
    wire = json.loads(seal(chiyoda, update(chiyoda, 1)))
    payload = base64.b64decode(wire["payload"]).replace("東京都".encode(), "大阪府".encode())
    wire["payload"] = base64.b64encode(payload).decode()
    [ack] = prefecture.receiver.receive([json.dumps(wire).encode()])
    assert ack.status is AckStatus.REFUSED
    assert "bad signature" in (ack.reason or "")
    assert history_rows(prefecture.engine) == 0
    [(reason, quarantined)] = rejections(prefecture.engine)
    assert "bad signature" in reason and not quarantined


def test_unsigned_and_malformed_messages_are_refused(
    prefecture: Node, chiyoda: NodeCredentials
) -> None:
    wire = json.loads(seal(chiyoda, update(chiyoda, 1)))
    del wire["sig"]
    acks = prefecture.receiver.receive([json.dumps(wire).encode(), b"not json"])
    assert [a.status for a in acks] == [AckStatus.REFUSED, AckStatus.REFUSED]
    assert all("malformed" in (a.reason or "") for a in acks)
    assert history_rows(prefecture.engine) == 0


def test_sender_claiming_another_identity_is_refused(
    prefecture: Node, chiyoda: NodeCredentials, pki: NetworkPKI
) -> None:
    pki.issue_node(municipal_node("131130"), Role.MUNICIPALITY.value, now=NOW)
    forged = update(chiyoda, 1, sender=municipal_node("131130"))
    with pytest.raises(ValueError, match="cannot send as"):
        seal(chiyoda, forged)


def test_unknown_sender_from_another_ca_is_refused(prefecture: Node, tmp_path: Path) -> None:
    stranger_pki = NetworkPKI.init(tmp_path / "other", NOW - timedelta(days=1))
    stranger = stranger_pki.issue_node(municipal_node(CHIYODA), Role.MUNICIPALITY.value, now=NOW)
    [ack] = prefecture.receiver.receive([seal(stranger, update(stranger, 1))])
    assert ack.status is AckStatus.REFUSED and "unknown issuer" in (ack.reason or "")
    assert history_rows(prefecture.engine) == 0


def test_wrongly_addressed_and_disallowed_types_are_refused(
    prefecture: Node, chiyoda: NodeCredentials
) -> None:
    misaddressed = seal(chiyoda, update(chiyoda, 1, receiver="national"))
    wrong_type = seal(chiyoda, update(chiyoda, 1, message_type=MessageType.POOL_ALLOCATION))
    acks = prefecture.receiver.receive([misaddressed, wrong_type])
    assert [a.status for a in acks] == [AckStatus.REFUSED, AckStatus.REFUSED]
    assert "not hosted here" in (acks[0].reason or "")
    assert "may not send" in (acks[1].reason or "")
    assert history_rows(prefecture.engine) == 0


def test_record_of_another_municipality_is_quarantined(
    prefecture: Node, chiyoda: NodeCredentials
) -> None:
    """An authentic message with bad content (the March 2013 incident) is kept aside with
    its bytes, acknowledged as rejected, and the channel moves on."""
    bad = seal(chiyoda, update(chiyoda, 1, lg_code="131130"))
    good = seal(chiyoda, update(chiyoda, 2))
    acks = prefecture.receiver.receive([bad, good])
    assert [a.status for a in acks] == [AckStatus.REJECTED, AckStatus.APPLIED]
    assert "sender_mismatch" in (acks[0].reason or "")
    assert history_rows(prefecture.engine) == 1
    [(reason, quarantined)] = rejections(prefecture.engine)
    assert quarantined and "sender_mismatch" in reason


def test_expired_certificate_is_refused(prefecture: Node, pki: NetworkPKI) -> None:
    old = pki.issue_node(
        municipal_node("131130"), Role.MUNICIPALITY.value, now=NOW - timedelta(days=3 * 366)
    )
    [ack] = prefecture.receiver.receive([seal(old, update(old, 1, lg_code="131130"))])
    assert ack.status is AckStatus.REFUSED and "expired" in (ack.reason or "")


def test_a_body_that_is_not_json_cannot_be_sealed() -> None:
    """NaN is not JSON: sealed, it would be refused at every retry and block its channel, so
    the sender's own transaction fails instead."""
    envelope = Envelope(
        new_message_id(), MessageType.HEARTBEAT, "national", "prefecture", 0, NOW, {"x": nan}
    )
    with pytest.raises(ValueError, match="not JSON compliant"):
        envelope.payload()

"""Crypto migrations end to end: 2014 (RSA-1024/SHA-1 → Ed25519) and next (→ ML-DSA-65).

A municipality is re-keyed before the policy's cutoff while the network runs: nothing is
lost (messages sealed under the old key keep verifying through the overlap), and after the
cutoff a message signed with the old key is refused with the algorithm and the cutoff named,
changing nothing upstream. Revocation: a CRL from the national center reaches every node.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import NewEntry, RegisterEntry
from jukinet.interfaces.cli.pki import still_to_migrate
from jukinet.net.bodies import identity_record_body, identity_update_body
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.messages import (
    NATIONAL_NODE,
    PREFECTURE_NODE,
    MessageType,
    Role,
    municipal_node,
)
from jukinet.net.pki import NetworkPKI, NodeCredentials, SignatureAlgorithm
from jukinet.net.policy import DEFAULT_POLICY, AlgorithmRule, CryptoPolicy
from jukinet.net.transport import AckStatus
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import NATIONAL, get_current
from jukinet.store.spine import lock_inbox_channel
from jukinet.store.tables import (
    message_rejections,
    national_identity_history,
    outbox,
    prefectural_identity_history,
)
from tests.net.factories import identity_record

A = SignatureAlgorithm
CHIYODA, KAMAKURA = "131016", "142042"
CHIYODA_NODE = municipal_node(CHIYODA)


def birth(i: int, day: date) -> NewEntry:
    return NewEntry(
        ChangeReason.BIRTH, day, f"移行　{i}", day, Sex.FEMALE, "東京都千代田区千代田1番1号"
    )


def code_of(entry: RegisterEntry) -> str:
    """The resident code of a newly recorded entry (a birth always draws one from the pool)."""
    assert entry.resident_code is not None
    return entry.resident_code


def count(engine: Engine, table: object) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def undelivered(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        return int(conn.execute(query).scalar_one())


def start_network(home: Path, clock: FixedClock, lg_codes: list[str]) -> EmbeddedNetwork:
    network = build_embedded(home, clock, lg_codes)
    for m in network.municipal:
        m.request_initial_pools()
    network.drain()
    return network


def old_key_update(network: EmbeddedNetwork, creds: NodeCredentials, now: datetime) -> bytes:
    """An identity update signed with ``creds``, next in the channel to the prefecture."""
    with read_transaction(network.prefecture.engine) as conn:
        seq = lock_inbox_channel(conn, PREFECTURE_NODE, creds.node_id) + 1
    record = identity_record(lg_code=CHIYODA, seed=seq)
    envelope = Envelope(
        id=new_message_id(),
        type=MessageType.IDENTITY_UPDATE,
        sender=creds.node_id,
        receiver=PREFECTURE_NODE,
        seq=seq,
        timestamp=now,
        body=identity_update_body([identity_record_body(record)]),
    )
    return seal(creds, envelope)


def heartbeat(creds: NodeCredentials, now: datetime) -> bytes:
    envelope = Envelope(
        id=new_message_id(),
        type=MessageType.HEARTBEAT,
        sender=creds.node_id,
        receiver=NATIONAL_NODE,
        seq=0,
        timestamp=now,
        body={"backlog": 0, "oldest_pending_at": None, "last_error": None},
    )
    return seal(creds, envelope)


def migrate(
    tmp_path: Path,
    *,
    start: datetime,
    legacy: tuple[SignatureAlgorithm, int],
    target: SignatureAlgorithm,
    policy: CryptoPolicy,
    cutoff: datetime,
    rekey_also: tuple[str, ...] = (),
) -> None:
    """The whole migration story for CHIYODA; ``rekey_also`` moves other nodes as well."""
    clock = FixedClock(start)
    pki = NetworkPKI.init(tmp_path / "pki", start)
    old = pki.issue_node(CHIYODA_NODE, "municipality", legacy[0], start, rsa_key_size=legacy[1])
    network = start_network(tmp_path, clock, [CHIYODA, KAMAKURA])
    try:
        network.publish_policy(policy)
        network.drain()
        for node in network.nodes:
            assert node.receiver.documents.policy.version == policy.version, node.name
        [(info, deadline)] = [
            p
            for p in still_to_migrate(pki.certificates(), policy, start)
            if p[0].node_id == CHIYODA_NODE
        ]
        assert deadline == cutoff and info.algorithm is legacy[0]

        register = network.municipality(CHIYODA).register(CHIYODA)
        codes = [code_of(register.record(birth(i, start.date()))) for i in range(2)]
        network.drain()  # the legacy key's updates flow

        # an outage: updates wait in the outbox, sealed under the old key
        network.transport.down.add(PREFECTURE_NODE)
        codes += [code_of(register.record(birth(i, start.date()))) for i in range(2, 5)]
        network.drain()
        chiyoda = network.municipality(CHIYODA).node
        assert undelivered(chiyoda.engine) == 3

        # re-key before the cutoff, without stopping anything
        clock.current = cutoff - timedelta(days=10)
        new = pki.renew_node(CHIYODA_NODE, target, clock.now())
        network.rekey(new)
        for node_id in rekey_also:
            network.rekey(pki.renew_node(node_id, target, clock.now()))
        assert [c.node_id for c, _ in still_to_migrate(pki.certificates(), policy, start)] == []
        codes += [code_of(register.record(birth(i, start.date()))) for i in range(5, 7)]
        network.transport.down.clear()
        clock.advance(timedelta(minutes=10))  # past the retry backoff
        network.drain()
        assert undelivered(chiyoda.engine) == 0
        with read_transaction(network.national.engine) as conn:
            assert all(get_current(conn, NATIONAL, c) is not None for c in codes)
        # both keys verify during the overlap
        acks = network.transport.send(NATIONAL_NODE, [heartbeat(old, clock.now())])
        assert [a.status for a in acks] == [AckStatus.APPLIED]

        # after the cutoff: the new key flows, the old one is refused by name and date
        clock.current = cutoff + timedelta(hours=1)
        code = code_of(register.record(birth(7, start.date())))
        network.drain()
        with read_transaction(network.national.engine) as conn:
            assert get_current(conn, NATIONAL, code) is not None
        pref_before = count(network.prefecture.engine, prefectural_identity_history)
        national_before = count(network.national.engine, national_identity_history)
        wire = old_key_update(network, old, clock.now())
        [ack] = network.transport.send(PREFECTURE_NODE, [wire])
        assert ack.status is AckStatus.REFUSED
        assert ack.reason is not None
        assert f"{legacy[0]} retired on {cutoff.date().isoformat()}" in ack.reason
        [ack] = network.transport.send(NATIONAL_NODE, [heartbeat(old, clock.now())])
        assert ack.status is AckStatus.REFUSED
        network.drain()
        assert count(network.prefecture.engine, prefectural_identity_history) == pref_before
        assert count(network.national.engine, national_identity_history) == national_before
        with read_transaction(network.prefecture.engine) as conn:
            reasons = conn.execute(select(message_rejections.c.reason)).scalars().all()
        assert any("retired on" in r for r in reasons)
    finally:
        network.dispose()


def test_the_2014_migration_rsa1024_sha1_to_ed25519(tmp_path: Path) -> None:
    cutoff = datetime(2014, 5, 31, tzinfo=UTC)
    policy = CryptoPolicy(
        1,
        datetime(2014, 3, 3, tzinfo=UTC),
        (
            AlgorithmRule(A.RSA_PKCS1V15_SHA1, 1024, None, cutoff),
            AlgorithmRule(A.RSA_PKCS1V15_SHA256, 2048),
            AlgorithmRule(A.ECDSA_P256_SHA256, 256),
            AlgorithmRule(A.ED25519),
        ),
    )
    migrate(
        tmp_path,
        start=datetime(2014, 3, 3, 1, tzinfo=UTC),
        legacy=(A.RSA_PKCS1V15_SHA1, 1024),
        target=A.ED25519,
        policy=policy,
        cutoff=cutoff,
    )


def test_the_next_migration_to_ml_dsa_65(tmp_path: Path) -> None:
    cutoff = datetime(2031, 3, 31, tzinfo=UTC)
    policy = CryptoPolicy(
        1,
        datetime(2030, 4, 1, tzinfo=UTC),
        (
            AlgorithmRule(A.ED25519, 0, None, cutoff),
            AlgorithmRule(A.ECDSA_P256_SHA256, 256, None, cutoff),
            AlgorithmRule(A.ML_DSA_65, 0, datetime(2024, 8, 13, tzinfo=UTC)),
        ),
    )
    # every tier signs with Ed25519 today, so every tier moves before the cutoff
    migrate(
        tmp_path,
        start=datetime(2030, 4, 1, 1, tzinfo=UTC),
        legacy=(A.ED25519, 2048),
        target=A.ML_DSA_65,
        policy=policy,
        cutoff=cutoff,
        rekey_also=(NATIONAL_NODE, PREFECTURE_NODE, municipal_node(KAMAKURA)),
    )


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[EmbeddedNetwork, NetworkPKI, FixedClock]]:
    clock = FixedClock(datetime(2014, 3, 3, 1, tzinfo=UTC))
    net = start_network(tmp_path, clock, [CHIYODA, KAMAKURA])
    yield net, NetworkPKI.load(tmp_path / "pki"), clock
    net.dispose()


def test_revoked_certificate_refused_once_the_crl_arrives(
    network: tuple[EmbeddedNetwork, NetworkPKI, FixedClock],
) -> None:
    net, pki, clock = network
    old = pki.credentials(CHIYODA_NODE)
    new = pki.renew_node(CHIYODA_NODE, A.ECDSA_P256_SHA256, clock.now())
    net.rekey(new)
    pki.revoke(
        CHIYODA_NODE,
        clock.now(),
        fingerprint=old.fingerprint,
        reason=x509.ReasonFlags.key_compromise,
    )
    net.transport.down.add(PREFECTURE_NODE)
    assert net.publish_crl(pki.publish_crl(now=clock.now())) == 3  # prefecture + 2 municipalities
    net.drain()
    # the prefecture has not received the CRL yet: it still accepts the old certificate
    assert net.prefecture.trust.verify_signer(old.certificate_der, clock.now())
    [ack] = net.transport.send(NATIONAL_NODE, [heartbeat(old, clock.now())])
    assert ack.status is AckStatus.REFUSED  # the national center enforces it at once
    assert ack.reason is not None and "revoked" in ack.reason and "keyCompromise" in ack.reason
    net.transport.down.clear()
    clock.advance(timedelta(minutes=10))
    net.drain()
    before = count(net.prefecture.engine, prefectural_identity_history)
    [ack] = net.transport.send(PREFECTURE_NODE, [old_key_update(net, old, clock.now())])
    assert ack.status is AckStatus.REFUSED
    assert ack.reason is not None and "is revoked" in ack.reason and "CRL 1" in ack.reason
    net.drain()
    assert count(net.prefecture.engine, prefectural_identity_history) == before
    kamakura = net.municipality(KAMAKURA).node
    assert kamakura.receiver.documents.trust.apply_crl(pki.publish_crl(now=clock.now()))
    # the CRL survives a restart: a rebuilt node loads it from its database
    net.dispose()
    restarted = build_embedded(pki.directory.parent, clock, [CHIYODA, KAMAKURA])
    try:
        [ack] = restarted.transport.send(
            PREFECTURE_NODE, [old_key_update(restarted, old, clock.now())]
        )
        assert ack.status is AckStatus.REFUSED and "revoked" in (ack.reason or "")
    finally:
        restarted.dispose()


def test_a_fresh_network_runs_the_default_policy(
    network: tuple[EmbeddedNetwork, NetworkPKI, FixedClock],
) -> None:
    net, _pki, _clock = network
    assert all(node.receiver.documents.policy is DEFAULT_POLICY for node in net.nodes)
    assert all(node.trust is not net.national.trust for node in net.nodes[1:])
    assert Role.NATIONAL.value == net.national.credentials[NATIONAL_NODE].role

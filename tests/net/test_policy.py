"""The crypto policy: windows, key sizes, the signed document, enforcement at message time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.net.envelope import seal
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE, Role, municipal_node
from jukinet.net.pki import NetworkPKI, NodeCredentials, SignatureAlgorithm
from jukinet.net.policy import (
    DEFAULT_POLICY,
    AlgorithmRule,
    CryptoPolicy,
    NetworkDocuments,
    PolicyError,
    open_policy,
    sign_policy,
)
from jukinet.net.transport import AckStatus
from jukinet.nodes.roles import build_prefectural
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.documents import POLICY_KIND, newest_document
from jukinet.store.tables import prefectural_identity_history
from tests.net.test_receiver import _NoTransport, update

A = SignatureAlgorithm
BEFORE = datetime(2014, 5, 30, 23, 59, tzinfo=UTC)
CUTOFF = datetime(2014, 5, 31, tzinfo=UTC)
ISSUED = datetime(2014, 3, 1, tzinfo=UTC)


def test_default_policy_retires_sha1_and_rsa1024_at_the_end_of_may_2014() -> None:
    DEFAULT_POLICY.check(A.RSA_PKCS1V15_SHA1, 1024, BEFORE)
    with pytest.raises(PolicyError, match=r"RSA-PKCS1v15-SHA1 retired on 2014-05-31") as info:
        DEFAULT_POLICY.check(A.RSA_PKCS1V15_SHA1, 1024, CUTOFF)
    assert info.value.rule == "algorithm_retired"
    DEFAULT_POLICY.check(A.RSA_PKCS1V15_SHA256, 1024, BEFORE)
    with pytest.raises(PolicyError, match="below the minimum of 2048 bits") as info:
        DEFAULT_POLICY.check(A.RSA_PKCS1V15_SHA256, 1024, CUTOFF)
    assert "1024-bit keys retired on 2014-05-31" in info.value.reason
    DEFAULT_POLICY.check(A.RSA_PKCS1V15_SHA256, 2048, CUTOFF)
    for alg, bits in ((A.ED25519, 256), (A.ECDSA_P256_SHA256, 256)):
        DEFAULT_POLICY.check(alg, bits, datetime(2040, 1, 1, tzinfo=UTC))


def test_ml_dsa_only_from_its_date() -> None:
    with pytest.raises(PolicyError, match="ML-DSA-65 not accepted before 2024-08-13") as info:
        DEFAULT_POLICY.check(A.ML_DSA_65, 15616, BEFORE)
    assert info.value.rule == "algorithm_not_yet_allowed"
    DEFAULT_POLICY.check(A.ML_DSA_65, 15616, datetime(2024, 8, 13, tzinfo=UTC))


def test_algorithm_missing_from_the_policy_is_not_allowed() -> None:
    policy = CryptoPolicy(1, ISSUED, (AlgorithmRule(A.ED25519),))
    with pytest.raises(PolicyError, match="ECDSA-P256-SHA256 is not allowed by crypto policy v1"):
        policy.check(A.ECDSA_P256_SHA256, 256, ISSUED)


def test_deadlines() -> None:
    assert DEFAULT_POLICY.deadline(A.RSA_PKCS1V15_SHA1, 1024, ISSUED) == CUTOFF
    assert DEFAULT_POLICY.deadline(A.RSA_PKCS1V15_SHA256, 1024, ISSUED) == CUTOFF
    assert DEFAULT_POLICY.deadline(A.RSA_PKCS1V15_SHA256, 2048, ISSUED) is None
    assert DEFAULT_POLICY.deadline(A.ED25519, 256, ISSUED) is None


def test_payload_round_trip() -> None:
    assert CryptoPolicy.from_payload(DEFAULT_POLICY.payload()) == DEFAULT_POLICY


@pytest.fixture
def pki(tmp_path: Path) -> NetworkPKI:
    return NetworkPKI.init(tmp_path / "pki", ISSUED - timedelta(days=1))


@pytest.fixture
def national(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node(NATIONAL_NODE, Role.NATIONAL.value, now=ISSUED)


def test_signed_policy_opens_and_tampering_is_refused(
    pki: NetworkPKI, national: NodeCredentials
) -> None:
    policy = CryptoPolicy(2, ISSUED, (AlgorithmRule(A.ED25519),))
    document = sign_policy(national, policy)
    trust = pki.trust_store()
    assert open_policy(trust, document, ISSUED) == policy
    outer = json.loads(document)
    outer["policy"] = outer["policy"][:-8] + "AAAAAAA="
    with pytest.raises(RuleViolation, match="bad signature"):
        open_policy(trust, json.dumps(outer).encode(), ISSUED)


def test_only_the_national_center_signs_policies(pki: NetworkPKI) -> None:
    muni = pki.issue_node(municipal_node("131016"), "municipality", now=ISSUED)
    with pytest.raises(RuleViolation, match="only the national center"):
        sign_policy(muni, DEFAULT_POLICY)


def test_newest_policy_wins_and_is_kept(
    pki: NetworkPKI, national: NodeCredentials, engine: Engine
) -> None:
    documents = NetworkDocuments(pki.trust_store())
    documents.install_from(engine)
    assert documents.policy is DEFAULT_POLICY
    v2 = CryptoPolicy(2, ISSUED, (AlgorithmRule(A.ED25519),))
    v1 = CryptoPolicy(1, ISSUED, DEFAULT_POLICY.rules)
    with write_transaction(engine) as conn:
        assert documents.accept_policy(conn, sign_policy(national, v2), ISSUED)
        assert not documents.accept_policy(conn, sign_policy(national, v1), ISSUED)
        assert not documents.accept_policy(conn, sign_policy(national, v2), ISSUED)
    restarted = NetworkDocuments(pki.trust_store())
    restarted.install_from(engine)
    assert restarted.policy == v2
    with read_transaction(engine) as conn:
        stored = newest_document(conn, POLICY_KIND)
    assert stored is not None and stored.version == 2


def history_rows(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        query = select(func.count()).select_from(prefectural_identity_history)
        return int(conn.execute(query).scalar_one())


def test_receiver_refuses_a_retired_algorithm_naming_it_and_the_cutoff(
    pki: NetworkPKI, engine: Engine
) -> None:
    clock = FixedClock(BEFORE)
    creds = pki.issue_node(PREFECTURE_NODE, Role.PREFECTURE.value, now=ISSUED)
    prefecture = build_prefectural(engine, creds, pki.trust_store(), clock, _NoTransport())
    legacy = pki.issue_node(
        municipal_node("131016"), "municipality", A.RSA_PKCS1V15_SHA1, ISSUED, rsa_key_size=1024
    )
    [ack] = prefecture.receiver.receive([seal(legacy, update(legacy, 1))])
    assert ack.status is AckStatus.APPLIED
    clock.current = CUTOFF
    [ack] = prefecture.receiver.receive([seal(legacy, update(legacy, 2))])
    assert ack.status is AckStatus.REFUSED
    assert ack.reason is not None
    assert "RSA-PKCS1v15-SHA1 retired on 2014-05-31" in ack.reason
    assert history_rows(engine) == 1


def test_receiver_refuses_a_key_below_the_minimum(pki: NetworkPKI, engine: Engine) -> None:
    clock = FixedClock(CUTOFF + timedelta(days=1))
    creds = pki.issue_node(PREFECTURE_NODE, Role.PREFECTURE.value, now=ISSUED)
    prefecture = build_prefectural(engine, creds, pki.trust_store(), clock, _NoTransport())
    weak = pki.issue_node(
        municipal_node("131016"), "municipality", A.RSA_PKCS1V15_SHA256, ISSUED, rsa_key_size=1024
    )
    [ack] = prefecture.receiver.receive([seal(weak, update(weak, 1))])
    assert ack.status is AckStatus.REFUSED
    assert ack.reason is not None and "below the minimum of 2048 bits" in ack.reason

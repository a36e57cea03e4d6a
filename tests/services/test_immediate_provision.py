"""Immediate provision with authentication in one write transaction (the API's path), on SQLite
and PostgreSQL: every request of a batch decided on its own, the nonce, audit entries, log row
and counter of a request committed together or not at all, replays refused across processes."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from jukinet.clock import FixedClock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import AuthRefused
from jukinet.domain.provision import MatchOutcome, ProvisionQuery
from jukinet.net.pki import RECIPIENTS_PURPOSE, NetworkPKI, NodeCredentials
from jukinet.net.request_signing import content_digest, sign_request
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.audit import verify_audit_log
from jukinet.services.national.immediate import ImmediateAnswer, ImmediateCall, ImmediateProvision
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.recipient_auth import RecipientAuthService, SignedHeaders
from jukinet.store import audit as audit_store
from jukinet.store import provision as store
from jukinet.store.db import read_transaction
from jukinet.store.recipient_nonces import recipient_request_nonces
from tests.support.provision import (
    PENSION,
    first_affair,
    network_with_national_on,
    register_one_resident,
    resident_code,
)

CLOCK = FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))
PATH = "/provision/immediate"


@dataclass
class World:
    network: EmbeddedNetwork
    pki: NetworkPKI
    creds: NodeCredentials
    code: str
    affair: str
    key: str

    @property
    def engine(self) -> Engine:
        return self.network.national.engine

    def process(self) -> ImmediateProvision:
        """A national center process of its own (its own trust store and auth state)."""
        auth = RecipientAuthService(self.engine, CLOCK, self.pki.trust_store())
        return ImmediateProvision(self.engine, CLOCK, auth)

    def query(self, **change: Any) -> ProvisionQuery:
        values: dict[str, Any] = {
            "affair_id": self.affair,
            "case_reference": "CASE-1",
            "resident_code": self.code,
        }
        values.update(change)
        return ProvisionQuery(**values)

    def signed(
        self, provision: ImmediateProvision, query: ProvisionQuery | None = None, **sign: Any
    ) -> ImmediateCall:
        query = query or self.query()
        body = json.dumps({"affair_id": query.affair_id}).encode()  # what was signed
        headers = sign_request(self.creds, "POST", PATH, body, now=CLOCK.now(), **sign)
        attempt = provision.auth.attempt_signed(
            "POST",
            PATH,
            SignedHeaders(
                headers["Jukinet-Signature"],
                headers["Jukinet-Certificate"],
                headers["Content-Digest"],
            ),
            body,
        )
        return ImmediateCall(attempt, query)

    def bearer(
        self, provision: ImmediateProvision, query: ProvisionQuery | None = None, key: str = ""
    ) -> ImmediateCall:
        attempt = provision.auth.attempt_bearer(key or self.key, "POST", PATH)
        return ImmediateCall(attempt, query or self.query())


@pytest.fixture
def world(tmp_path: Path, engine: Engine) -> Iterator[World]:
    network = network_with_national_on(engine, tmp_path, CLOCK)
    try:
        code = register_one_resident(network)
        pki = NetworkPKI.load(tmp_path / "home" / "pki")
        creds = pki.issue_node(
            "recipient/jpf",
            "recipient",
            now=CLOCK.now(),
            purpose=RECIPIENTS_PURPOSE,
            recipient=PENSION,
        )
        national = network.national.engine
        key = ProvisionService(national, CLOCK).issue_key(PENSION)
        yield World(network, pki, creds, code, first_affair(national), key)
    finally:
        network.dispose()


def counted(engine: Engine) -> tuple[int, int, int, list[Any]]:
    """Nonces, audit entries, log rows, counters."""
    with read_transaction(engine) as conn:
        nonces = conn.execute(
            select(func.count()).select_from(recipient_request_nonces)
        ).scalar_one()
        audit = len(list(audit_store.iter_entries(conn)))
        log = conn.execute(select(func.count()).select_from(store.provision_log)).scalar_one()
        return nonces, audit, log, store.counts(conn)


def entries(engine: Engine, after: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    with read_transaction(engine) as conn:
        found = list(audit_store.iter_entries(conn, after))
    return [(e.action, e.outcome, json.loads(e.detail)) for e in found]


def test_one_batch_decides_each_request_on_its_own(world: World) -> None:
    provision = world.process()
    before = counted(world.engine)[1]
    replay = world.signed(provision, nonce="the-same-nonce-123")
    calls = [
        world.signed(provision),
        world.bearer(provision, world.query(affair_id="SOUMU-ONKYU-1")),
        replay,
        world.signed(provision, nonce="the-same-nonce-123"),  # replayed in the same batch
        world.bearer(provision, key="jkr_unknown"),
        ImmediateCall(world.bearer(provision).attempt, None, ValueError("malformed body")),
        world.bearer(provision, world.query(resident_code=resident_code(9))),
    ]
    outcomes = provision.process(calls)
    found, listed, first, again, unknown, malformed, missing = outcomes
    assert isinstance(found, ImmediateAnswer)
    assert found.result.outcome is MatchOutcome.FOUND
    assert found.result.record is not None
    assert found.result.record["name"] == "鈴木　一郎"
    assert isinstance(listed, RuleViolation)
    assert listed.rule == "affair_not_listed"
    assert isinstance(first, ImmediateAnswer)
    assert isinstance(again, AuthRefused)
    assert again.rule == "replayed_nonce"
    assert isinstance(unknown, AuthRefused)
    assert unknown.rule == "not_authenticated"
    assert isinstance(malformed, ValueError)
    assert isinstance(missing, ImmediateAnswer)
    assert missing.result.outcome is MatchOutcome.NOT_FOUND

    nonces, audit, log, counts = counted(world.engine)
    assert (nonces, log) == (2, 2)
    assert counts == [(PENSION, world.affair, "2014-03", "immediate", 2)]
    # every request audited, in order: authentication, then what became of the query
    assert [(a, o) for a, o, _ in entries(world.engine, before)] == [
        ("provision.authenticate", "ok"),
        ("provision.immediate", "ok"),
        ("provision.authenticate", "ok"),
        ("provision.immediate", "refused"),
        ("provision.authenticate", "ok"),
        ("provision.immediate", "ok"),
        ("provision.authenticate", "refused"),
        ("provision.authenticate", "refused"),
        ("provision.authenticate", "ok"),  # the malformed body: authenticated, then 422
        ("provision.authenticate", "ok"),
        ("provision.immediate", "ok"),
    ]
    assert audit == before + 11
    details = [d for a, _, d in entries(world.engine, before) if a == "provision.immediate"]
    assert {d["log_id"] for d in details if d.get("outcome") == "found"} == {1, 2}
    assert verify_audit_log(world.engine, world.network.national.trust).ok


def test_a_failed_transaction_leaves_no_nonce_audit_log_or_count(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    provision = world.process()
    before = counted(world.engine)
    write = provision.provision.write

    def failing(*args: Any, **kwargs: Any) -> Any:
        write(*args, **kwargs)  # the log rows and counters are written, then it fails
        raise RuntimeError("the database went away")

    monkeypatch.setattr(provision.provision, "write", failing)
    call = world.signed(provision)
    with pytest.raises(RuntimeError, match="went away"):
        provision.process([call, world.bearer(provision)])
    assert counted(world.engine) == before
    monkeypatch.undo()
    # nothing of it stuck: the same signed request goes through afterwards
    [answer] = provision.process([call])
    assert isinstance(answer, ImmediateAnswer)
    nonces, audit, log, _ = counted(world.engine)
    assert (nonces, audit, log) == (before[0] + 1, before[1] + 2, before[2] + 1)


def test_a_failing_request_fails_alone_when_group_committed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    provision = world.process()
    write = provision.provision.write

    def poisoned(conn: Any, decisions: Any, now: Any) -> Any:
        if any(d.query.case_reference == "POISON" for d in decisions):
            raise RuntimeError("poisoned")
        return write(conn, decisions, now)

    monkeypatch.setattr(provision.provision, "write", poisoned)
    calls = [
        world.bearer(provision),
        world.bearer(provision, world.query(case_reference="POISON")),
        world.signed(provision),
    ]
    outcomes: list[object] = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def ask(i: int) -> None:
        gate.wait()
        try:
            outcomes[i] = provision.answer_now(calls[i])
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert isinstance(outcomes[0], ImmediateAnswer)
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], ImmediateAnswer)
    nonces, _, log, _ = counted(world.engine)
    assert (nonces, log) == (1, 2)


def test_a_replay_is_refused_by_another_process(world: World) -> None:
    one, other = world.process(), world.process()
    call = world.signed(one)
    [accepted] = one.process([call])
    assert isinstance(accepted, ImmediateAnswer)
    replay = ImmediateCall(
        other.auth.attempt_signed(
            "POST", PATH, _headers_of(call), call.attempt.body
        ),  # the same bytes, received by another worker
        call.query,
    )
    [refused] = other.process([replay])
    assert isinstance(refused, AuthRefused)
    assert refused.rule == "replayed_nonce"


def test_concurrent_replays_in_two_processes_one_is_accepted(world: World) -> None:
    one, other = world.process(), world.process()
    call = world.signed(one)
    twin = ImmediateCall(
        other.auth.attempt_signed("POST", PATH, _headers_of(call), call.attempt.body), call.query
    )
    outcomes: list[object] = [None, None]
    gate = threading.Barrier(2)

    def ask(i: int, provision: ImmediateProvision, c: ImmediateCall) -> None:
        gate.wait()
        try:
            outcomes[i] = provision.process([c])[0]
        except Exception as exc:
            outcomes[i] = exc

    threads = [
        threading.Thread(target=ask, args=(0, one, call)),
        threading.Thread(target=ask, args=(1, other, twin)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    accepted = [o for o in outcomes if isinstance(o, ImmediateAnswer)]
    replayed = [o for o in outcomes if isinstance(o, AuthRefused) and o.rule == "replayed_nonce"]
    assert (len(accepted), len(replayed)) == (1, 1), outcomes
    nonces, _, log, _ = counted(world.engine)
    assert (nonces, log) == (1, 1)


def _headers_of(call: ImmediateCall) -> SignedHeaders:
    """The signed headers an attempt was made from, rebuilt from what it parsed."""
    signed = call.attempt.signed
    assert signed is not None
    assert signed.certificate_der is not None
    signature = (
        f"created={signed.created}, nonce={signed.nonce}, alg={signed.algorithm}, "
        f"sig={base64.b64encode(signed.signature).decode()}"
    )
    return SignedHeaders(
        signature,
        base64.b64encode(signed.certificate_der).decode(),
        content_digest(signed.content_sha256),
    )


def test_a_signature_checked_before_a_crl_was_installed_is_checked_again(world: World) -> None:
    provision = world.process()
    early = world.signed(provision)  # verified on arrival, before the revocation
    world.pki.revoke("recipient/jpf", CLOCK.now())
    crl = world.pki.publish_crl(RECIPIENTS_PURPOSE, CLOCK.now())
    world.network.publish_crl(crl, RECIPIENTS_PURPOSE)  # stored by another process
    [other] = provision.process([world.bearer(provision)])  # this transaction installs it
    assert isinstance(other, ImmediateAnswer)
    [late] = provision.process([early])  # a later transaction: nothing new in the database
    assert isinstance(late, AuthRefused)
    assert late.rule == "revoked"

"""Recipients authenticate with their certificate: signed requests through the real API of an
embedded network (SQLite and PostgreSQL national databases) — acceptance for immediate and
batch provision, every refusal, replay, re-keying, and the transitional bearer key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.deps import AppServices, services_of
from jukinet.interfaces.cli.app import app as cli
from jukinet.net.pki import (
    RECIPIENTS_CA_NAME,
    RECIPIENTS_PURPOSE,
    NetworkPKI,
    NodeCredentials,
    SignatureAlgorithm,
    recipient_name,
)
from jukinet.net.request_signing import SIGNATURE_HEADER, sign_request
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.national.provision import ProvisionService
from jukinet.store import audit as audit_store
from jukinet.store.db import read_transaction
from jukinet.store.recipient_nonces import recipient_request_nonces
from tests.support.provision import (
    PENSION,
    first_affair,
    network_with_national_on,
    register_one_resident,
)


class Answer(Protocol):
    """What the tests read of a TestClient response (httpx or httpx2, by Starlette version)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Any: ...

    def json(self) -> Any: ...


START = datetime(2014, 3, 31, 1, 0, tzinfo=UTC)
IMMEDIATE = "/provision/immediate"
PROBLEM = "application/problem+json"
JSON = {"Content-Type": "application/json"}


@dataclass
class Setup:
    network: EmbeddedNetwork
    pki: NetworkPKI
    clock: FixedClock
    client: TestClient
    code: str
    affair: str

    def issue(
        self,
        node_id: str = "recipient/jpf",
        recipient: str | None = PENSION,
        algorithm: SignatureAlgorithm = SignatureAlgorithm.ED25519,
        **kw: Any,
    ) -> NodeCredentials:
        return self.pki.issue_node(
            node_id,
            "recipient",
            algorithm,
            self.clock.now(),
            purpose=RECIPIENTS_PURPOSE,
            recipient=recipient,
            **kw,
        )

    def query(self, **change: Any) -> bytes:
        body = {"affair_id": self.affair, "case_reference": "CASE-1", "resident_code": self.code}
        return json.dumps({**body, **change}).encode()

    def post(
        self,
        creds: NodeCredentials,
        path: str = IMMEDIATE,
        body: bytes | None = None,
        *,
        sent_path: str | None = None,
        sent_body: bytes | None = None,
        content_type: str = "application/json",
        **sign: Any,
    ) -> Answer:
        body = self.query() if body is None else body
        headers = sign_request(creds, "POST", path, body, now=self.clock.now(), **sign)
        return self.send("POST", sent_path or path, sent_body or body, headers, content_type)

    def send(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: dict[str, str],
        content_type: str = "application/json",
    ) -> Answer:
        return self.client.request(
            method, path, content=body, headers={**headers, "Content-Type": content_type}
        )

    def get(self, creds: NodeCredentials, path: str) -> Answer:
        headers = sign_request(creds, "GET", path, now=self.clock.now())
        return self.client.get(path, headers=headers)

    def publish_crl(self) -> None:
        self.network.publish_crl(
            self.pki.publish_crl(RECIPIENTS_PURPOSE, self.clock.now()), RECIPIENTS_PURPOSE
        )


@pytest.fixture
def setup(tmp_path: Path, engine: Engine) -> Iterator[Setup]:
    clock = FixedClock(START)
    network = network_with_national_on(engine, tmp_path, clock)
    try:
        code = register_one_resident(network)
        pki = NetworkPKI.load(tmp_path / "home" / "pki")
        client = TestClient(create_app(services_of(network.nodes, clock)))
        yield Setup(network, pki, clock, client, code, first_affair(network.national.engine))
    finally:
        network.dispose()


def refused(response: Answer, status: int = 401) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    rule: str = response.json()["rule"]
    return rule


def authentications(setup: Setup) -> list[tuple[str, str, dict[str, Any]]]:
    with read_transaction(setup.network.national.engine) as conn:
        entries = list(audit_store.iter_entries(conn))
    return [
        (e.actor, e.outcome, json.loads(e.detail))
        for e in entries
        if e.action == "provision.authenticate"
    ]


# --- accepted ----------------------------------------------------------------------------------


def test_signed_immediate_provision_is_accepted_and_audited(setup: Setup) -> None:
    creds = setup.issue()
    found = setup.post(creds)
    assert found.status_code == 200, found.text
    assert found.json()["outcome"] == "found"
    assert found.json()["record"]["name"] == "鈴木　一郎"
    # the affair rules still apply to a signed request
    listed = setup.post(creds, body=setup.query(affair_id="SOUMU-ONKYU-1"))
    assert (listed.status_code, listed.json()["rule"]) == (403, "affair_not_listed")
    [(actor, outcome, detail), _] = authentications(setup)
    assert (actor, outcome) == (f"recipient:{PENSION}", "ok")
    assert detail["credential"] == "certificate"
    assert (detail["certificate"], detail["alg"]) == (creds.fingerprint, "Ed25519")


def test_signed_batch_submission_and_status(setup: Setup) -> None:
    creds = setup.issue()
    path = f"/provision/batch?affair_id={setup.affair}"
    data = f"row_id,resident_code,name,birth_date,sex,address\na,{setup.code},,,,\n".encode()
    submitted = setup.post(creds, path, data, content_type="text/csv")
    assert submitted.status_code in {201, 202}, submitted.text
    job = submitted.json()["job_id"]
    status = setup.get(creds, f"/provision/batch/{job}")
    assert status.status_code == 200, status.text
    assert status.json()["job_id"] == job

    # a streamed file is checked against its signed digest once received
    tampered = setup.post(
        creds, path, data, sent_body=data.replace(b"a,", b"b,"), content_type="text/csv"
    )
    assert refused(tampered) == "digest_mismatch"
    # and another recipient's signature does not reach this job
    other = setup.issue("recipient/chikyo", "地方公務員共済組合")
    assert setup.get(other, f"/provision/batch/{job}").status_code == 404


def test_the_bearer_key_is_still_accepted_and_audited_as_such(setup: Setup) -> None:
    key = ProvisionService(setup.network.national.engine, setup.clock).issue_key(PENSION)
    response = setup.send("POST", IMMEDIATE, setup.query(), {"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    [(actor, outcome, detail)] = authentications(setup)
    assert (actor, outcome, detail["credential"]) == (f"recipient:{PENSION}", "ok", "bearer_key")


def test_the_fingerprint_alone_once_the_certificate_was_sent(setup: Setup) -> None:
    creds = setup.issue()
    assert refused(setup.post(creds, send_certificate=False)) == "certificate_unknown"
    assert setup.post(creds).status_code == 200
    assert setup.post(creds, send_certificate=False).status_code == 200


# --- refused -----------------------------------------------------------------------------------


def test_no_credential(setup: Setup) -> None:
    assert refused(setup.send("POST", IMMEDIATE, setup.query(), {})) == "not_authenticated"


def test_tampered_body_and_path(setup: Setup) -> None:
    creds = setup.issue()
    body = setup.query()
    tampered = setup.query(case_reference="CASE-2")
    assert refused(setup.post(creds, body=body, sent_body=tampered)) == "digest_mismatch"
    path = f"/provision/batch/nope?affair_id={setup.affair}"
    moved = setup.post(creds, path, sent_path=IMMEDIATE)
    assert refused(moved) == "bad_signature"
    signed = sign_request(creds, "POST", IMMEDIATE, body, now=setup.clock.now())
    head, sig = signed[SIGNATURE_HEADER].split("sig=")
    flipped = bytearray(base64.b64decode(sig))
    flipped[10] ^= 1
    broken = {**signed, SIGNATURE_HEADER: f"{head}sig={base64.b64encode(flipped).decode()}"}
    assert refused(setup.send("POST", IMMEDIATE, body, broken)) == "bad_signature"


def test_replayed_nonce(setup: Setup) -> None:
    creds = setup.issue()
    body = setup.query()
    headers = sign_request(creds, "POST", IMMEDIATE, body, now=setup.clock.now())
    assert setup.send("POST", IMMEDIATE, body, headers).status_code == 200
    replay = setup.send("POST", IMMEDIATE, body, headers)
    assert refused(replay) == "replayed_nonce"
    # the same nonce in a new signature is a replay too; nonces are per recipient
    nonce = headers[SIGNATURE_HEADER].split("nonce=")[1].split(",")[0]
    assert refused(setup.post(creds, nonce=nonce)) == "replayed_nonce"
    other = setup.issue("recipient/chikyo", "地方公務員共済組合")
    passed = setup.post(other, nonce=nonce)  # authenticated; its affairs are another matter
    assert (passed.status_code, passed.json()["rule"]) == (403, "affair_not_listed")


def test_stale_created(setup: Setup) -> None:
    creds = setup.issue()
    body = setup.query()
    old = sign_request(creds, "POST", IMMEDIATE, body, now=setup.clock.now())
    setup.clock.advance(timedelta(seconds=301))
    response = setup.send("POST", IMMEDIATE, body, old)
    assert refused(response) == "stale_created"
    assert "301 s behind" in response.json()["detail"]


def test_expired_certificate(setup: Setup) -> None:
    creds = setup.issue(validity=timedelta(days=30))
    setup.clock.advance(timedelta(days=31))
    assert refused(setup.post(creds)) == "expired"


def test_revoked_certificate(setup: Setup) -> None:
    creds = setup.issue()
    assert setup.post(creds).status_code == 200
    setup.pki.revoke("recipient/jpf", setup.clock.now(), reason=x509.ReasonFlags.key_compromise)
    setup.publish_crl()
    response = setup.post(creds)
    assert refused(response) == "revoked"
    assert "keyCompromise" in response.json()["detail"]


def test_a_crl_stored_by_another_process_is_enforced(setup: Setup) -> None:
    """Another worker of the national center: its own trust store, the same database."""
    creds = setup.issue()
    national = setup.network.national
    worker = TestClient(
        create_app(
            AppServices(
                clock=setup.clock,
                engines=[national.engine],
                national_engine=national.engine,
                national_trust=setup.pki.trust_store(),
            )
        )
    )
    body = setup.query()
    headers = sign_request(creds, "POST", IMMEDIATE, body, now=setup.clock.now())
    assert worker.post(IMMEDIATE, content=body, headers={**headers, **JSON}).status_code == 200
    setup.pki.revoke("recipient/jpf", setup.clock.now())
    setup.publish_crl()  # stored in the national database by the first process
    headers = sign_request(creds, "POST", IMMEDIATE, body, now=setup.clock.now())
    assert refused(worker.post(IMMEDIATE, content=body, headers={**headers, **JSON})) == "revoked"


def test_unknown_recipient(setup: Setup) -> None:
    stranger = setup.issue("recipient/nobody", "存在しない機構")
    response = setup.post(stranger)
    assert refused(response) == "unknown_recipient"
    assert "存在しない機構" in response.json()["detail"]
    assert refused(setup.post(setup.issue("recipient/anon", None))) == "unknown_recipient"


def test_suspended_recipient(setup: Setup) -> None:
    creds = setup.issue()
    ProvisionService(setup.network.national.engine, setup.clock).suspend(PENSION)
    assert refused(setup.post(creds), 403) == "recipient_suspended"
    job = setup.get(creds, "/provision/batch/any")
    assert refused(job, 403) == "recipient_suspended"


def test_retired_algorithm(setup: Setup) -> None:
    legacy = setup.issue(algorithm=SignatureAlgorithm.RSA_PKCS1V15_SHA1, rsa_key_size=1024)
    assert setup.post(legacy).status_code == 200
    setup.clock.current = datetime(2014, 6, 1, tzinfo=UTC)
    response = setup.post(legacy)
    assert refused(response) == "algorithm_retired"
    assert "RSA-PKCS1v15-SHA1 retired on 2014-05-31" in response.json()["detail"]


def test_certificates_of_the_nodes_ca_or_a_foreign_ca(setup: Setup, tmp_path: Path) -> None:
    national = setup.network.national.credentials["national"]
    assert refused(setup.post(national)) == "not_a_recipient_certificate"
    foreign = NetworkPKI.init(tmp_path / "foreign", START - timedelta(days=1))
    foreign.ensure_issuer(RECIPIENTS_PURPOSE, RECIPIENTS_CA_NAME, START - timedelta(days=1))
    impostor = foreign.issue_node(
        "recipient/jpf", "recipient", now=START, purpose=RECIPIENTS_PURPOSE, recipient=PENSION
    )
    assert refused(setup.post(impostor)) == "unknown_issuer"


def test_refusals_are_audited(setup: Setup) -> None:
    creds = setup.issue()
    setup.clock.advance(timedelta(days=365 * 4))
    refused(setup.post(creds))
    [(actor, outcome, detail)] = authentications(setup)
    assert (actor, outcome, detail["rule"]) == ("recipient:?", "refused", "expired")
    assert detail["certificate"] == creds.fingerprint


# --- re-keying ---------------------------------------------------------------------------------


def test_rekeying_overlap_then_revocation_of_the_old_certificate(setup: Setup) -> None:
    old = setup.issue()
    new = setup.pki.renew_node(
        "recipient/jpf", SignatureAlgorithm.ECDSA_P256_SHA256, setup.clock.now()
    )
    assert setup.post(old).status_code == 200  # the overlap: either certificate signs
    assert setup.post(new).status_code == 200
    setup.pki.revoke(
        "recipient/jpf",
        setup.clock.now(),
        fingerprint=old.fingerprint,
        reason=x509.ReasonFlags.superseded,
    )
    setup.publish_crl()
    assert refused(setup.post(old)) == "revoked"
    assert setup.post(new).status_code == 200


# --- nonces ------------------------------------------------------------------------------------


def test_expired_nonces_are_purged(setup: Setup) -> None:
    creds = setup.issue()
    assert setup.post(creds).status_code == 200
    setup.clock.advance(timedelta(minutes=10))
    assert setup.post(creds).status_code == 200
    with read_transaction(setup.network.national.engine) as conn:
        count = conn.execute(
            select(func.count()).select_from(recipient_request_nonces)
        ).scalar_one()
    assert count == 1  # the first request's nonce is out of the window: gone


# --- issuing -----------------------------------------------------------------------------------


def test_pki_issue_names_the_recipient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(cli, ["pki", "init"]).exit_code == 0
    issued = runner.invoke(cli, ["pki", "issue", "recipient/jpf", "--recipient", PENSION])
    assert issued.exit_code == 0, issued.output
    creds = NetworkPKI.load(tmp_path / "pki").credentials("recipient/jpf")
    assert recipient_name(creds.certificate) == PENSION
    assert creds.role == "recipient"
    bare = runner.invoke(cli, ["pki", "issue", "recipient/x", "--purpose", "recipients"])
    assert bare.exit_code == 0 and "cannot sign provision requests" in bare.output

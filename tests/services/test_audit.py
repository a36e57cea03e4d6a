"""The audit log: hash-chained entries, signed checkpoints, and tampering by direct SQL found
and named by offline verification (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.domain.audit import GENESIS_DIGEST, Outcome, Problem, canonical_detail, chain_digest
from jukinet.interfaces.cli.app import app as cli
from jukinet.net.bodies import identity_record_body, identity_update_body
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.messages import PREFECTURE_NODE, MessageType, Role, municipal_node
from jukinet.net.pki import NetworkPKI, NodeCredentials
from jukinet.net.receiver import Receiver
from jukinet.net.transport import Ack, AckStatus
from jukinet.nodes.roles import build_prefectural
from jukinet.services.audit import AuditLog, VerificationReport, verify_audit_log
from jukinet.store import audit as store
from jukinet.store.db import make_engine, read_transaction, sqlite_url, write_transaction
from tests.net.factories import identity_record

NOW = datetime(2014, 3, 3, tzinfo=UTC)


@pytest.fixture
def pki(tmp_path: Path) -> NetworkPKI:
    return NetworkPKI.init(tmp_path / "pki", NOW - timedelta(days=1))


@pytest.fixture
def prefecture(pki: NetworkPKI) -> NodeCredentials:
    return pki.issue_node(PREFECTURE_NODE, Role.PREFECTURE.value, now=NOW)


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog(FixedClock(NOW))


def record_many(engine: Engine, audit: AuditLog, count: int, start: int = 1) -> None:
    with write_transaction(engine) as conn:
        for i in range(start, start + count):
            audit.record(
                conn,
                actor=f"operator-{i % 3}",
                action="resident.show",
                obj=f"resident:{i:011d}",
                detail={"i": i, "note": "閲覧"},
            )


def tamper(engine: Engine, sql: str) -> None:
    """Direct SQL as a privileged attacker: on PostgreSQL the append-only trigger must be got
    round first (a superuser can: replication role skips ordinary triggers)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in sql.split(";"):
            conn.execute(text(statement))


def verify(engine: Engine, pki: NetworkPKI) -> VerificationReport:
    return verify_audit_log(engine, pki.trust_store())


def test_an_intact_log_with_checkpoints_verifies(
    engine: Engine, audit: AuditLog, prefecture: NodeCredentials, pki: NetworkPKI
) -> None:
    record_many(engine, audit, 5)
    with write_transaction(engine) as conn:
        first = audit.checkpoint(conn, prefecture)
    record_many(engine, audit, 3, start=6)
    with write_transaction(engine) as conn:
        second = audit.checkpoint(conn, prefecture)
        assert audit.checkpoint(conn, prefecture) == second  # the head is signed already
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (5, 8)
    report = verify(engine, pki)
    assert report.ok, report.findings
    assert (report.entries, report.checkpoints) == (8, 2)


def test_the_chain_is_sha256_over_the_previous_digest(engine: Engine, audit: AuditLog) -> None:
    record_many(engine, audit, 2)
    with read_transaction(engine) as conn:
        one, two = store.iter_entries(conn)
    assert one.prev_digest == GENESIS_DIGEST
    assert two.prev_digest == one.digest
    assert one.digest == chain_digest(GENESIS_DIGEST, one.canonical())
    assert one.detail == canonical_detail({"i": 1, "note": "閲覧"})
    assert one.detail_data == {"i": 1, "note": "閲覧"}


def test_an_entry_rolls_back_with_its_transaction(engine: Engine, audit: AuditLog) -> None:
    record_many(engine, audit, 1)

    def failing_change() -> None:
        with write_transaction(engine) as conn:
            audit.record(conn, actor="op", action="resident.change", outcome=Outcome.OK)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    record_many(engine, audit, 1, start=2)
    with read_transaction(engine) as conn:
        assert [e.seq for e in store.iter_entries(conn)] == [1, 2]


def test_concurrent_appends_keep_one_chain(
    engine: Engine, audit: AuditLog, pki: NetworkPKI
) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                with write_transaction(engine) as conn:
                    audit.record(conn, actor=f"w{worker}", action="tick", obj=str(i))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify(engine, pki)
    assert report.ok, report.findings
    assert report.entries == 45


def test_an_altered_entry_is_named(engine: Engine, audit: AuditLog, pki: NetworkPKI) -> None:
    record_many(engine, audit, 6)
    tamper(engine, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4")
    first = verify(engine, pki).first
    assert first is not None
    assert (first.seq, first.problem) == (4, Problem.ALTERED)
    assert "entry 4" in first.message


def test_a_removed_entry_is_named(engine: Engine, audit: AuditLog, pki: NetworkPKI) -> None:
    record_many(engine, audit, 6)
    tamper(engine, "DELETE FROM audit_log WHERE seq = 3")
    first = verify(engine, pki).first
    assert first is not None
    assert (first.seq, first.problem) == (3, Problem.REMOVED)
    assert "entry 3 missing" in first.message


def test_entries_removed_from_the_end_are_found(
    engine: Engine, audit: AuditLog, pki: NetworkPKI
) -> None:
    record_many(engine, audit, 6)
    tamper(engine, "DELETE FROM audit_log WHERE seq >= 5")
    first = verify(engine, pki).first
    assert first is not None
    assert (first.seq, first.problem) == (5, Problem.REMOVED)


def test_reordered_entries_are_named(engine: Engine, audit: AuditLog, pki: NetworkPKI) -> None:
    record_many(engine, audit, 6)
    tamper(
        engine,
        "UPDATE audit_log SET seq = -1 WHERE seq = 3;"
        "UPDATE audit_log SET seq = 3 WHERE seq = 4;"
        "UPDATE audit_log SET seq = 4 WHERE seq = -1",
    )
    first = verify(engine, pki).first
    assert first is not None
    assert (first.seq, first.problem) == (3, Problem.REORDERED)
    assert "reordered" in first.message


def test_a_rehashed_chain_fails_its_signed_checkpoint(
    engine: Engine, audit: AuditLog, prefecture: NodeCredentials, pki: NetworkPKI
) -> None:
    """Someone without the node key alters entry 2 and recomputes every digest after it:
    the chain is consistent again, but no longer what the node signed."""
    record_many(engine, audit, 4)
    with write_transaction(engine) as conn:
        audit.checkpoint(conn, prefecture)
    with read_transaction(engine) as conn:
        entries = list(store.iter_entries(conn))
    prev = entries[0].digest
    statements = []
    for entry in entries[1:]:
        actor = "forger" if entry.seq == 2 else entry.actor
        forged = replace(entry, actor=actor, prev_digest=prev)
        digest = chain_digest(prev, forged.canonical())
        statements.append(
            f"UPDATE audit_log SET actor = '{actor}', prev_digest = '{prev}', "
            f"digest = '{digest}' WHERE seq = {entry.seq}"
        )
        prev = digest
    statements.append(f"UPDATE audit_head SET digest = '{prev}'")
    tamper(engine, ";".join(statements))
    report = verify(engine, pki)
    assert report.first is not None
    assert (report.first.seq, report.first.problem) == (4, Problem.ALTERED)
    assert "checkpoint 4" in report.first.message


def test_a_forged_or_untrusted_checkpoint_is_refused(
    engine: Engine, audit: AuditLog, prefecture: NodeCredentials, pki: NetworkPKI, tmp_path: Path
) -> None:
    record_many(engine, audit, 3)
    with write_transaction(engine) as conn:
        audit.checkpoint(conn, prefecture)
    other = NetworkPKI.init(tmp_path / "other", NOW - timedelta(days=1))
    untrusted = verify_audit_log(engine, other.trust_store()).first
    assert untrusted is not None
    assert (untrusted.seq, untrusted.problem) == (3, Problem.CHECKPOINT)
    tamper(engine, "UPDATE audit_checkpoints SET seq = 2")  # claims an earlier point
    forged = verify(engine, pki).first
    assert forged is not None
    assert (forged.seq, forged.problem) == (2, Problem.CHECKPOINT)
    assert "bad signature" in forged.message


def test_postgres_refuses_update_and_delete_of_audit_rows(
    postgres_engine: Engine, audit: AuditLog
) -> None:
    """The append-only trigger is PostgreSQL's; on SQLite tampering is caught by verify."""
    record_many(postgres_engine, audit, 2)
    for sql in ("UPDATE audit_log SET actor = 'x' WHERE seq = 1", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), postgres_engine.begin() as conn:
            conn.execute(text(sql))


# --- the receiver's hook ----------------------------------------------------------------


def test_every_received_message_is_audited(
    engine: Engine, pki: NetworkPKI, prefecture: NodeCredentials, audit: AuditLog
) -> None:
    clock = FixedClock(NOW)
    node = build_prefectural(engine, prefecture, pki.trust_store(), clock, _NoTransport())
    receiver = Receiver(
        engine,
        pki.trust_store(),
        clock,
        hosted=node.node_ids,
        handlers=node.handlers,
        audit=audit.message,
    )
    chiyoda = pki.issue_node(municipal_node("131016"), Role.MUNICIPALITY.value, now=NOW)
    good = seal(chiyoda, _update(chiyoda, 1, "131016"))
    wrong_tenant = seal(chiyoda, _update(chiyoda, 2, "271004"))  # not its own resident
    acks = receiver.receive([good, good, wrong_tenant, b"not a message"])
    assert [a.status for a in acks] == [
        AckStatus.APPLIED,
        AckStatus.DUPLICATE,
        AckStatus.REJECTED,
        AckStatus.REFUSED,
    ]
    with read_transaction(engine) as conn:
        entries = list(store.iter_entries(conn))
    assert [(e.actor, e.action, e.outcome) for e in entries] == [
        (chiyoda.node_id, "message.receive", "applied"),
        (chiyoda.node_id, "message.receive", "duplicate"),
        (chiyoda.node_id, "message.receive", "quarantined"),
        ("unknown", "message.receive", "refused"),
    ]
    assert "reported a record of 271004" in entries[2].detail_data["reason"]
    assert verify(engine, pki).ok


class _NoTransport:
    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]:
        raise AssertionError("nothing is sent")


def _update(creds: NodeCredentials, seq: int, lg_code: str) -> Envelope:
    return Envelope(
        id=new_message_id(),
        type=MessageType.IDENTITY_UPDATE,
        sender=creds.node_id,
        receiver=PREFECTURE_NODE,
        seq=seq,
        timestamp=NOW,
        body=identity_update_body([identity_record_body(identity_record(lg_code, seed=seq))]),
    )


# --- the command ------------------------------------------------------------------------


def test_audit_cli_checkpoints_and_names_the_broken_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("JUKINET_HOME", str(home))
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0  # builds the empty network
    engine = make_engine(sqlite_url(home.resolve() / "prefecture.db"))
    record_many(engine, AuditLog(FixedClock(datetime.now(UTC))), 3)
    signed = runner.invoke(cli, ["audit", "checkpoint", "--node", "prefecture"])
    assert signed.exit_code == 0, signed.output
    assert "checkpoint at entry 3" in signed.output
    ok = runner.invoke(cli, ["audit", "verify", "--node", "prefecture"])
    assert ok.exit_code == 0, ok.output
    assert "3 entries, 1 checkpoints verified" in ok.output
    with engine.begin() as conn:
        _alter(conn)
    broken = runner.invoke(cli, ["audit", "verify", "--node", "prefecture"])
    assert broken.exit_code == 1
    assert "entry 2 altered" in broken.output
    engine.dispose()


def _alter(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_log SET object = 'resident:other' WHERE seq = 2"))

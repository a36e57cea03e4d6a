"""The node's audit log: record every operator action, every message accepted or refused and
every provision; sign checkpoints; verify the whole log offline.

Recording happens inside the transaction of the action recorded (``AuditLog.record(conn, …)``),
so the log and the change commit or vanish together. Verification needs only the database and
a trust store (the network root): it recomputes the chain, checks every checkpoint signature,
and names the first entry where the log was altered, removed or reordered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock
from jukinet.domain.audit import (
    AuditEntry,
    Finding,
    Outcome,
    Problem,
    canonical_detail,
    check_link,
    checkpoint_payload,
)
from jukinet.net.pki import NodeCredentials, SignatureError, TrustStore, fingerprint
from jukinet.store import audit as store
from jukinet.store.db import read_transaction, write_transaction

CHECKPOINT_EVERY_ENTRIES = 1_000
CHECKPOINT_EVERY = timedelta(hours=1)
"""A checkpoint is due after this many entries or this long since the last one."""


class AuditLog:
    """Appends to the audit log of one node database."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def record(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        obj: str = "",
        outcome: Outcome | str = Outcome.OK,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Append one entry inside the caller's transaction."""
        return store.append_entry(
            conn,
            at=at or self.clock.now(),
            actor=actor,
            action=action,
            obj=obj,
            outcome=str(outcome),
            detail=canonical_detail(detail),
        )

    def entry(
        self,
        *,
        actor: str,
        action: str,
        obj: str = "",
        outcome: Outcome | str = Outcome.OK,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> store.NewEntry:
        """An entry to append later with :meth:`record_all` (same arguments as :meth:`record`)."""
        return store.NewEntry(
            at or self.clock.now(), actor, action, obj, str(outcome), canonical_detail(detail)
        )

    def record_all(self, conn: Connection, entries: Sequence[store.NewEntry]) -> list[AuditEntry]:
        """Append entries in order inside the caller's transaction, holding the chain's head
        once for all of them."""
        return store.append_entries(conn, entries)

    def message(
        self, conn: Connection, outcome: str, header: Mapping[str, Any], reason: str | None
    ) -> None:
        """The receiver's hook: one entry per message received, whatever became of it."""
        self.record(
            conn,
            actor=str(header.get("sender") or "unknown"),
            action="message.receive",
            obj=str(header.get("id") or ""),
            outcome=outcome,
            detail={
                "type": header.get("type"),
                "receiver": header.get("receiver"),
                "seq": header.get("seq"),
                "reason": reason,
            },
        )

    def checkpoint(
        self, conn: Connection, credentials: NodeCredentials
    ) -> store.StoredCheckpoint | None:
        """Sign the head of the chain with the node's key (inside the caller's transaction);
        the latest checkpoint when the head is signed already, None when nothing is recorded."""
        seq, digest = store.lock_head(conn)
        latest = store.latest_checkpoint(conn)
        if latest is not None and latest.seq == seq:
            return latest
        if seq == 0:
            return None
        at = self.clock.now()
        signature = credentials.sign(checkpoint_payload(credentials.node_id, seq, digest, at))
        checkpoint = store.StoredCheckpoint(
            seq=seq,
            digest=digest,
            at=at,
            node_id=credentials.node_id,
            algorithm=str(credentials.algorithm),
            cert_fingerprint=credentials.fingerprint,
            certificate=credentials.certificate_der,
            signature=signature,
        )
        store.insert_checkpoint(conn, checkpoint)
        return checkpoint

    def checkpoint_if_due(
        self,
        engine: Engine,
        credentials: NodeCredentials,
        *,
        every_entries: int = CHECKPOINT_EVERY_ENTRIES,
        every: timedelta = CHECKPOINT_EVERY,
    ) -> store.StoredCheckpoint | None:
        """The periodic checkpoint: sign when enough entries or time have passed."""
        with write_transaction(engine) as conn:
            head = store.read_head(conn)
            if head is None or head[0] == 0:
                return None
            latest = store.latest_checkpoint(conn)
            if latest is not None:
                fresh = head[0] - latest.seq
                if fresh == 0 or (fresh < every_entries and self.clock.now() - latest.at < every):
                    return None
            return self.checkpoint(conn, credentials)


@dataclass(frozen=True, slots=True)
class VerificationReport:
    entries: int
    checkpoints: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The broken entry with the lowest sequence number."""
        return min(self.findings, key=lambda f: f.seq) if self.findings else None


def verify_audit_log(engine: Engine, trust: TrustStore) -> VerificationReport:
    """Recompute the chain and check every checkpoint; read-only, one snapshot."""
    with read_transaction(engine) as conn:
        return verify_in(conn, trust)


def verify_in(conn: Connection, trust: TrustStore) -> VerificationReport:
    findings: list[Finding] = []
    previous: AuditEntry | None = None
    digests: dict[int, str] = {}
    checkpoints = store.list_checkpoints(conn)
    pinned = {c.seq for c in checkpoints}
    count = 0
    chain_broken = False
    for entry in store.iter_entries(conn):
        count += 1
        if entry.seq in pinned:
            digests[entry.seq] = entry.digest
        if not chain_broken:
            finding = check_link(previous, entry)
            if finding is not None:
                findings.append(_explain(conn, finding, entry))
                chain_broken = True  # later links are judged against a broken one: stop
        previous = entry
    last_seq = previous.seq if previous is not None else 0
    head = store.read_head(conn)
    if not chain_broken and head is not None and head[0] > last_seq:
        findings.append(
            Finding(
                last_seq + 1,
                Problem.REMOVED,
                f"entries {last_seq + 1}-{head[0]} missing at the end (the head is at {head[0]})",
            )
        )
    for checkpoint in checkpoints:
        finding = _check_checkpoint(trust, checkpoint, digests.get(checkpoint.seq))
        if finding is not None:
            findings.append(finding)
    return VerificationReport(count, len(checkpoints), findings)


def _explain(conn: Connection, finding: Finding, entry: AuditEntry) -> Finding:
    """Say where an entry out of place came from, when its predecessor is elsewhere."""
    if finding.problem is not Problem.REORDERED or entry.seq != finding.seq:
        return finding
    came_after = store.seq_with_digest(conn, entry.prev_digest)
    if came_after is None or came_after == entry.seq - 1:
        return finding
    return Finding(
        finding.seq,
        finding.problem,
        f"{finding.message}; the entry it was written after now sits at {came_after} "
        "(entries reordered)",
    )


def _check_checkpoint(
    trust: TrustStore, checkpoint: store.StoredCheckpoint, digest_there: str | None
) -> Finding | None:
    seq = checkpoint.seq
    if digest_there is None:
        return Finding(
            seq, Problem.REMOVED, f"checkpoint {seq} signs entry {seq}, which is missing"
        )
    if fingerprint(checkpoint.certificate) != checkpoint.cert_fingerprint:
        return Finding(
            seq, Problem.CHECKPOINT, f"checkpoint {seq}: certificate does not match fingerprint"
        )
    payload = checkpoint_payload(checkpoint.node_id, seq, checkpoint.digest, checkpoint.at)
    try:
        signer = trust.verify_message(
            checkpoint.certificate,
            checkpoint.algorithm,
            payload,
            checkpoint.signature,
            checkpoint.at,
        )
    except SignatureError as exc:
        return Finding(seq, Problem.CHECKPOINT, f"checkpoint {seq}: {exc.message}")
    if signer.node_id != checkpoint.node_id:
        return Finding(
            seq,
            Problem.CHECKPOINT,
            f"checkpoint {seq}: signed by {signer.node_id}, claims {checkpoint.node_id}",
        )
    if checkpoint.digest != digest_there:
        return Finding(
            seq,
            Problem.ALTERED,
            f"checkpoint {seq}: the chain's digest there is {digest_there[:12]}…, the node "
            f"signed {checkpoint.digest[:12]}… (entries up to {seq} were altered and re-hashed)",
        )
    return None

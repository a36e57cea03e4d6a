"""The audit log's chain, in pure form: an entry's canonical bytes, its digest, and the check of
one link.

Each entry's digest is ``sha256(prev_digest + canonical(entry))``, so changing, removing or
moving any entry breaks the chain at that point; a signed checkpoint (the node's signature over
a sequence number and the digest there) pins everything up to it, so even a chain rebuilt from
scratch by someone without the node key no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS_DIGEST = "0" * 64
"""The ``prev_digest`` of the first entry (seq 1)."""


class Outcome(StrEnum):
    """What became of the audited action."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """Detail as canonical JSON text: stored verbatim, so verifying never re-serialises."""
    return json.dumps(
        dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def _utc_iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime: audit times are timezone-aware UTC")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry as stored: ``detail`` is the canonical JSON text."""

    seq: int
    at: datetime
    actor: str
    action: str
    object: str
    outcome: str
    detail: str
    prev_digest: str
    digest: str

    def canonical(self) -> bytes:
        return canonical_entry(
            self.seq,
            self.at,
            actor=self.actor,
            action=self.action,
            obj=self.object,
            outcome=self.outcome,
            detail=self.detail,
        )

    @property
    def detail_data(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.detail)
        return data


def canonical_entry(
    seq: int, at: datetime, *, actor: str, action: str, obj: str, outcome: str, detail: str
) -> bytes:
    """The bytes an entry's digest covers (every column but the digests themselves)."""
    return json.dumps(
        [seq, _utc_iso(at), actor, action, obj, outcome, detail],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def chain_digest(prev_digest: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_digest.encode("ascii") + canonical).hexdigest()


def checkpoint_payload(node_id: str, seq: int, digest: str, at: datetime) -> bytes:
    """What a node signs for a checkpoint: it vouches for the chain up to ``seq``."""
    return json.dumps(
        {"node": node_id, "seq": seq, "digest": digest, "at": _utc_iso(at)},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


class Problem(StrEnum):
    """How the log was tampered with, as far as the chain can tell."""

    ALTERED = "altered"  # an entry's content no longer matches its digest
    REMOVED = "removed"  # a sequence number is missing (or the tail is gone)
    REORDERED = "reordered"  # an entry does not follow the one before it
    CHECKPOINT = "checkpoint"  # a checkpoint's signature or digest does not hold


@dataclass(frozen=True, slots=True)
class Finding:
    """The first thing wrong, named by the sequence number where it shows."""

    seq: int
    problem: Problem
    message: str


def check_link(previous: AuditEntry | None, entry: AuditEntry) -> Finding | None:
    """Whether ``entry`` correctly follows ``previous`` (None: it should be the first).

    Checked in this order so that the finding names the tampering: a missing sequence number
    (removal), then the link to the previous digest (an entry moved here from elsewhere, or
    the previous one altered and re-hashed), then the entry's own digest (altered in place).
    """
    expected_seq = 1 if previous is None else previous.seq + 1
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            missing = (
                f"entry {expected_seq}"
                if entry.seq == expected_seq + 1
                else f"entries {expected_seq}-{entry.seq - 1}"
            )
            return Finding(expected_seq, Problem.REMOVED, f"{missing} missing before {entry.seq}")
        return Finding(entry.seq, Problem.REORDERED, f"entry {entry.seq} out of sequence")
    expected_prev = GENESIS_DIGEST if previous is None else previous.digest
    if entry.prev_digest != expected_prev:
        return Finding(
            entry.seq,
            Problem.REORDERED,
            f"entry {entry.seq} does not follow entry {entry.seq - 1}: its prev_digest "
            f"{entry.prev_digest[:12]}… is not {expected_prev[:12]}…",
        )
    recomputed = chain_digest(entry.prev_digest, entry.canonical())
    if recomputed != entry.digest:
        return Finding(
            entry.seq,
            Problem.ALTERED,
            f"entry {entry.seq} ({entry.action} by {entry.actor}) was altered: its content "
            f"hashes to {recomputed[:12]}…, stored digest {entry.digest[:12]}…",
        )
    return None

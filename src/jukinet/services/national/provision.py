"""Provision of identity records to recipients at the national center (immediate method).

Recipients authenticate with signed requests (``services/national/recipient_auth.py``); the
bearer credential issued per recipient (``issue_key``) stays accepted during the transition:
32 random bytes, shown once, stored only as their SHA-256 (a high-entropy random secret needs
no slow hash; lookup by hash is constant time in the index).

Every provided record is appended to ``provision_log`` and counted in ``provision_counts`` in
the same transaction, together with an audit entry. Refusals (unknown recipient, affair not
listed for it, outside its window, a field it may not receive, suspended) raise a
RuleViolation naming field and rule, after an audit entry (outcome ``refused``) is committed on
its own.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from jukinet.clock import JST, Clock
from jukinet.domain.affairs import RecipientKind, affairs_2013
from jukinet.domain.audit import Outcome
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import IdentityRecord
from jukinet.domain.names import address_search_key, name_search_key
from jukinet.domain.provision import (
    DEFAULT_FIELDS,
    AffairGrant,
    MatchOutcome,
    ProvisionMethod,
    ProvisionQuery,
    ProvisionResult,
    project,
    validate_query,
    year_month,
)
from jukinet.services.audit import AuditLog
from jukinet.store import provision as store
from jukinet.store.audit import NewEntry
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import NATIONAL, get_current, row_to_record
from jukinet.store.provision_log import append_logs_returning

PROVISION_START = date(2002, 8, 5)
"""Juki-net's second stage: provision to national agencies began (第2次稼働)."""

LATER_WINDOWS: dict[str, date] = {
    "国民年金基金連合会": date(2012, 9, 1),
    "企業年金連合会": date(2013, 3, 1),
}
"""Recipients added to the annex later (DOMAIN.md §5): their affairs are lawful from then."""

CREDENTIAL_PREFIX = "jkr_"
ACTION = "provision.immediate"


@dataclass(frozen=True, slots=True)
class Decision:
    """One query decided inside a transaction, nothing written yet
    (:meth:`ProvisionService.write` logs, counts and audits it)."""

    recipient: str
    query: ProvisionQuery
    request_id: str
    affair_id: str
    outcome: MatchOutcome
    resident_code: str | None = None
    record: dict[str, Any] | None = None
    """The record as projected to the affair's (or the query's) fields, when found."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def seed_recipients(conn: Connection, clock: Clock) -> int:
    """Add the recipients and affairs of the 2013 annex that are missing; returns how many
    affairs were added (idempotent: existing rows, suspensions and keys are kept)."""
    now = clock.now()
    names = store.recipient_names(conn)
    known = store.affair_ids(conn)
    added = 0
    for affair in affairs_2013():
        if affair.recipient not in names:
            store.add_recipient(conn, affair.recipient, affair.recipient_kind.value, now)
            names.add(affair.recipient)
        if affair.affair_id in known:
            continue
        grant = AffairGrant(
            affair_id=affair.affair_id,
            recipient=affair.recipient,
            valid_from=LATER_WINDOWS.get(affair.recipient, PROVISION_START),
            valid_until=None,
            allowed_fields=DEFAULT_FIELDS,
        )
        store.add_affair(conn, grant, law=affair.law, affair=affair.affair)
        known.add(affair.affair_id)
        added += 1
    return added


class ProvisionService:
    """Recipients and immediate provision on the national center's database."""

    def __init__(self, engine: Engine, clock: Clock, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    # --- recipients --------------------------------------------------------------------------

    def seed(self) -> int:
        with write_transaction(self.engine) as conn:
            return seed_recipients(conn, self.clock)

    def add_recipient(self, name: str, kind: str, actor: str = "operator") -> None:
        try:
            RecipientKind(kind)
        except ValueError:
            raise RuleViolation("kind", "invalid", f"unknown recipient kind {kind!r}") from None
        if not name.strip():
            raise RuleViolation("recipient", "required", "a recipient has a name")
        with write_transaction(self.engine) as conn:
            if store.get_recipient(conn, name) is not None:
                raise RuleViolation("recipient", "exists", f"{name} is already a recipient")
            store.add_recipient(conn, name, kind, self.clock.now())
            self.audit.record(conn, actor=actor, action="recipient.add", obj=name)

    def add_affair(
        self, grant: AffairGrant, *, law: str, affair: str, actor: str = "operator"
    ) -> None:
        with write_transaction(self.engine) as conn:
            if store.get_recipient(conn, grant.recipient) is None:
                raise RuleViolation(
                    "recipient", "unknown_recipient", f"{grant.recipient} is not a recipient"
                )
            if store.get_affair(conn, grant.affair_id) is not None:
                raise RuleViolation("affair_id", "exists", f"{grant.affair_id} already exists")
            store.add_affair(conn, grant, law=law, affair=affair)
            self.audit.record(conn, actor=actor, action="recipient.add_affair", obj=grant.affair_id)

    def issue_key(self, name: str, actor: str = "operator") -> str:
        """A new bearer credential for ``name`` (the previous one stops working)."""
        key = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
        with write_transaction(self.engine) as conn:
            if not store.set_key_hash(conn, name, hash_key(key)):
                raise RuleViolation("recipient", "unknown_recipient", f"{name} is not a recipient")
            self.audit.record(conn, actor=actor, action="recipient.issue_key", obj=name)
        return key

    def suspend(
        self,
        name: str,
        *,
        affair_id: str | None = None,
        suspended: bool = True,
        actor: str = "operator",
    ) -> None:
        """Suspend (or resume) a recipient, or one of its affairs."""
        with write_transaction(self.engine) as conn:
            if affair_id is None:
                if not store.set_recipient_suspended(conn, name, suspended):
                    raise RuleViolation(
                        "recipient", "unknown_recipient", f"{name} is not a recipient"
                    )
                obj = name
            else:
                grant = store.get_affair(conn, affair_id)
                if grant is None or grant.recipient != name:
                    raise RuleViolation(
                        "affair_id", "affair_not_listed", f"{affair_id} is not listed for {name}"
                    )
                store.set_affair_suspended(conn, affair_id, suspended)
                obj = affair_id
            action = "recipient.suspend" if suspended else "recipient.resume"
            self.audit.record(conn, actor=actor, action=action, obj=obj)

    def recipients(self) -> list[tuple[store.Recipient, list[AffairGrant]]]:
        with read_transaction(self.engine) as conn:
            return [(r, store.affairs_of(conn, r.name)) for r in store.list_recipients(conn)]

    def authenticate(self, key: str | None) -> str:
        """The recipient holding ``key``, or a RuleViolation (``not_authenticated``)."""
        if not key:
            raise RuleViolation("credential", "not_authenticated", "no recipient credential")
        with read_transaction(self.engine) as conn:
            recipient = store.recipient_by_key_hash(conn, hash_key(key))
        if recipient is None:
            with write_transaction(self.engine) as conn:
                self.audit.record(
                    conn,
                    actor="recipient:?",
                    action="provision.authenticate",
                    outcome=Outcome.REFUSED,
                    detail={"rule": "not_authenticated"},
                )
            raise RuleViolation("credential", "not_authenticated", "unknown recipient credential")
        return recipient.name

    # --- provision ---------------------------------------------------------------------------

    def immediate(self, recipient: str, query: ProvisionQuery) -> ProvisionResult:
        """Answer one query of ``recipient`` (即時提供) in a transaction of its own."""
        request_id = str(uuid.uuid4())
        try:
            validate_query(query)
            with write_transaction(self.engine) as conn:
                now = self.clock.now()
                decision = self.decide(conn, recipient, query, request_id, now)
                [(result, entry)] = self.write(conn, [decision], now)
                self.audit.record_all(conn, [entry])
                return result
        except RuleViolation as exc:
            with write_transaction(self.engine) as conn:
                entry = self.refusal(recipient, query, request_id, exc, self.clock.now())
                self.audit.record_all(conn, [entry])
            raise

    # --- the steps, inside the caller's transaction ----------------------------------------------

    def decide(
        self,
        conn: Connection,
        recipient: str,
        query: ProvisionQuery,
        request_id: str,
        now: datetime,
        *,
        reads: store.TransactionReads | None = None,
        records: Mapping[str, IdentityRecord] | None = None,
    ) -> Decision:
        """What ``query`` comes to (rules, then the match), reading only: RuleViolation for a
        refusal. ``reads``: the recipients and affairs this transaction has read already;
        ``records``: current records this transaction read by code (the others are read)."""
        today = now.astimezone(JST).date()
        grant = self._grant(reads or store.TransactionReads(conn), recipient, query)
        fields = grant.allowed_fields if query.fields is None else query.fields
        grant.check(recipient, today, fields)
        if query.resident_code is not None:
            if records is not None and query.resident_code in records:
                record: IdentityRecord | None = records[query.resident_code]
            else:
                record = get_current(conn, NATIONAL, query.resident_code)
            candidates = [] if record is None else [record]
        else:
            assert query.name is not None
            assert query.birth_date is not None
            rows = store.match_basic_items(
                conn,
                name_key=name_search_key(query.name),
                birth_date=query.birth_date,
                sex=query.sex,
                address_key=None if query.address is None else address_search_key(query.address),
            )
            candidates = [row_to_record(r) for r in rows]
        if len(candidates) != 1:
            outcome = MatchOutcome.NOT_FOUND if not candidates else MatchOutcome.SEVERAL_CANDIDATES
            return Decision(recipient, query, request_id, grant.affair_id, outcome)
        record = candidates[0]
        return Decision(
            recipient,
            query,
            request_id,
            grant.affair_id,
            MatchOutcome.FOUND,
            record.resident_code,
            project(record, fields),
        )

    def write(
        self, conn: Connection, decisions: Sequence[Decision], now: datetime
    ) -> list[tuple[ProvisionResult, NewEntry]]:
        """Log and count every record provided (one insert for all, one upsert per counter),
        and give each decision its result and its audit entry, for the caller to record with
        the rest of its transaction's entries."""
        method = ProvisionMethod.IMMEDIATE.value
        month = year_month(now.astimezone(JST).date())
        found = [d for d in decisions if d.outcome is MatchOutcome.FOUND]
        log_ids = append_logs_returning(
            conn,
            [
                {
                    "provided_at": now,
                    "recipient": d.recipient,
                    "affair_id": d.affair_id,
                    "method": method,
                    "resident_code": d.resident_code,
                    "request_id": d.request_id,
                    "job_id": None,
                    "case_reference": d.query.case_reference,
                }
                for d in found
            ],
        )
        counted = Counter((d.recipient, d.affair_id) for d in found)
        for (recipient, affair_id), n in sorted(counted.items()):  # one lock order everywhere
            store.increment_count(
                conn,
                recipient=recipient,
                affair_id=affair_id,
                year_month=month,
                method=method,
                by=n,
            )
        ids = iter(log_ids)
        out: list[tuple[ProvisionResult, NewEntry]] = []
        for d in decisions:
            detail: dict[str, Any] = {
                "request_id": d.request_id,
                "case_reference": d.query.case_reference,
                "outcome": d.outcome.value,
            }
            log_id = next(ids) if d.outcome is MatchOutcome.FOUND else None
            if log_id is not None:
                detail["log_id"] = log_id
            entry = self.audit.entry(
                actor=f"recipient:{d.recipient}",
                action=ACTION,
                obj=f"affair/{d.affair_id}",
                detail=detail,
                at=now,
            )
            out.append((ProvisionResult(d.outcome, d.record, log_id), entry))
        return out

    def refusal(
        self,
        recipient: str,
        query: ProvisionQuery,
        request_id: str,
        exc: RuleViolation,
        at: datetime,
    ) -> NewEntry:
        """The audit entry of a refused query."""
        return self.audit.entry(
            actor=f"recipient:{recipient}",
            action=ACTION,
            obj=f"affair/{query.affair_id}",
            outcome=Outcome.REFUSED,
            detail={
                "field": exc.field,
                "rule": exc.rule,
                "request_id": request_id,
                "case_reference": query.case_reference,
            },
            at=at,
        )

    def _grant(
        self, reads: store.TransactionReads, recipient: str, query: ProvisionQuery
    ) -> AffairGrant:
        return listed_grant(reads, recipient, query.affair_id)


def listed_grant(reads: store.TransactionReads, recipient: str, affair_id: str) -> AffairGrant:
    """The affair as granted to ``recipient``; refused when the recipient is unknown or
    suspended, or the affair is not listed for it (immediate and batch provision alike)."""
    who = reads.recipient(recipient)
    if who is None:
        raise RuleViolation("recipient", "unknown_recipient", f"{recipient} is not a recipient")
    if who.suspended:
        raise RuleViolation(
            "recipient", "recipient_suspended", f"provision to {recipient} is suspended"
        )
    grant = reads.affair(affair_id)
    if grant is None or grant.recipient != recipient:
        raise RuleViolation(
            "affair_id", "affair_not_listed", f"{affair_id} is not listed for {recipient}"
        )
    return grant

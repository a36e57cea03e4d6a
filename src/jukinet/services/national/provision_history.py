"""One person's provision history from the national center's log, for a disclosure: read by
the national center's own desk, and sent to a prefecture's desk that asked for it.

A prefecture's ``provision_history_request`` is answered in the transaction that applies it:
the codes asked about are followed back through the national history (earlier resident codes
are the same person's), every provision of them within retention is read (database rows and
batch segments), and a ``provision_history`` goes back to the prefecture through the outbox,
so the answer is as durable as the question. Each answer is recorded in the national center's
audit log: who asked, for which request (its reference, which the prefecture's request row
holds), how many codes and provisions left — like every disclosure entry, no code or name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

from jukinet.clock import JST, Clock, today_in_japan
from jukinet.domain.affairs import affairs_2013
from jukinet.domain.disclosure import DisclosedProvision, Office
from jukinet.domain.provision_history import (
    NATIONAL_CENTER_JA,
    HistoryAnswer,
    parse_request,
)
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import MessageType
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.services.audit import AuditLog
from jukinet.services.national.provision_log import ProvisionLog, kept_from
from jukinet.store import disclosure as store
from jukinet.store.db import read_transaction
from jukinet.store.disclosure import StoredRequest
from jukinet.store.identity_records import NATIONAL
from jukinet.store.provision_log import month_of


class NationalProvisionLog:
    """The national center's provision log (rows and batch segments), read per person."""

    def __init__(self, engine: Engine, files: Path | None, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.log = ProvisionLog(engine, files, clock)

    @property
    def held_by(self) -> str:
        return NATIONAL_CENTER_JA

    def ask(
        self, conn: Connection, office: Office, request_id: int, resident_codes: Sequence[str]
    ) -> None:
        """The national center's desk reads its own log when it decides: nothing to ask."""
        return

    def read(
        self, conn: Connection, request: StoredRequest, resident_codes: Sequence[str], since: str
    ) -> tuple[tuple[DisclosedProvision, ...], date]:
        """Every provision of the person from ``since`` on, read now (for the desk)."""
        _, provisions = self.provisions_of(resident_codes, since)
        return tuple(provisions), today_in_japan(self.clock)

    def provisions_of(
        self, resident_codes: Sequence[str], since: str
    ) -> tuple[list[str], list[DisclosedProvision]]:
        """The codes given and every earlier code the national center knows them by (a
        prefecture may know only the codes used while the person lived there), and every
        provision of those codes from month ``since`` (YYYY-MM) on, oldest first."""
        with read_transaction(self.engine) as conn:
            codes = store.person_codes(conn, NATIONAL, resident_codes, None)
            names = {a.affair_id: a.affair for a in affairs_2013()} | store.affair_names(conn)
        entries = [
            e
            for code in codes
            for e in self.log.entries_for(code)
            if e.resident_code == code and month_of(e.provided_at) >= since
        ]
        entries.sort(key=lambda e: (e.provided_at, e.log_id or 0, e.job_id or ""))
        return codes, [
            DisclosedProvision(
                provided_on=e.provided_at.astimezone(JST).date(),
                recipient=e.recipient,
                affair_id=e.affair_id,
                affair=names.get(e.affair_id, e.affair_id),
                method=e.method,
                case_reference=e.case_reference,
                resident_code=e.resident_code,
            )
            for e in entries
        ]


class ProvisionHistoryAnswers:
    """The national center's answers to prefectures' questions (a message handler)."""

    def __init__(
        self,
        log: NationalProvisionLog,
        credentials: NodeCredentials,
        outbox: Outbox,
        audit: AuditLog,
    ) -> None:
        self.log = log
        self.credentials = credentials  # switched by ``replace_credentials`` on re-keying
        self.outbox = outbox
        self.audit = audit

    def on_provision_history_request(
        self, conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        """Answer in this transaction; a malformed question is quarantined (RuleViolation)."""
        envelope = opened.envelope
        question = parse_request(envelope.body)
        today = today_in_japan(self.log.clock)
        since = kept_from(today)
        codes, provisions = self.log.provisions_of(question.resident_codes, since)
        answer = HistoryAnswer(
            question.reference, question.office, tuple(codes), today, since, tuple(provisions)
        )
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=envelope.sender,
            message_type=MessageType.PROVISION_HISTORY,
            body=answer.to_body(),
            now=now,
        )
        self.audit.record(
            conn,
            actor=envelope.sender,
            action="disclosure.provision_history",
            obj=f"disclosure/{question.office.code}/{question.reference}",
            detail={"codes": len(codes), "provisions": len(provisions), "kept_from": since},
            at=now,
        )

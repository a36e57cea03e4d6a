"""The municipal node's side of the network: what it sends and what it does on receipt.

Every register change becomes an identity update to the prefectural center in the same
transaction; a move-in sends a move-in notice to the former municipality; a low pool asks the
national center for more codes. Incoming: pool allocations and move-in notices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from jukinet.clock import Clock, today_in_japan
from jukinet.domain.codes import validate_lg_code, validate_resident_code
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.names import name_search_key
from jukinet.domain.register import (
    FOREIGN_RESIDENT_RULE,
    EntryStatus,
    ForeignResidentRule,
    RegisterEntry,
    Removal,
    move_in_notice_code,
)
from jukinet.domain.storable import storable_text
from jukinet.net.bodies import (
    MAX_RECORDS_PER_UPDATE,
    body_date,
    identity_record_body,
    identity_update_body,
)
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import (
    NATIONAL_NODE,
    PREFECTURE_NODE,
    MessageType,
    lg_code_of,
    municipal_node,
)
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store import register as store
from jukinet.store.tables import pool_requests, residents

POOL_LOW_WATER = 200
POOL_REQUEST_SIZE = 1000


_NOTICE_FIELDS = {
    "change_date": "move_in_date",
    "destination_address": "new_address",
    "destination_lg_code": "new_lg_code",
}
"""The move-in notice's field behind each item of the removal it completes."""


class MunicipalLink:
    """Connects one municipality's register to the network."""

    def __init__(
        self,
        credentials: NodeCredentials,
        outbox: Outbox,
        clock: Clock,
        *,
        rule: ForeignResidentRule = FOREIGN_RESIDENT_RULE,
    ) -> None:
        self.credentials = credentials
        self.node_id = credentials.node_id
        self.lg_code = lg_code_of(self.node_id)
        self.outbox = outbox
        self.clock = clock
        self.rule = rule

    # --- outgoing ------------------------------------------------------------------------

    def changed(
        self,
        conn: Connection,
        entry: RegisterEntry,
        previous: RegisterEntry | None,
        now: datetime,
    ) -> None:
        """Called by the register inside the change's transaction. An entry without a code (a
        foreign resident before the applicable date) has no identity record to send."""
        previous_code = None
        if previous is not None and previous.resident_code != entry.resident_code:
            previous_code = previous.resident_code  # None when a code was first assigned
        if entry.on_network:
            self.send_identity_update(conn, entry, previous_code, now)
        if entry.change_reason is ChangeReason.MOVE_IN and entry.previous_lg_code:
            self._send_move_in_notice(conn, entry, now)
        self.request_pool_if_low(conn, now)

    def send_identity_update(
        self, conn: Connection, entry: RegisterEntry, previous_code: str | None, now: datetime
    ) -> None:
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=PREFECTURE_NODE,
            message_type=MessageType.IDENTITY_UPDATE,
            body=identity_update_body(
                [identity_record_body(entry.identity_record(), previous_code)]
            ),
            now=now,
        )

    def resend(
        self, conn: Connection, now: datetime, resident_codes: list[str] | None = None
    ) -> int:
        """Send the current record of the given residents (all when ``None``) upward again,
        batched: the first upload after a bulk load, or a repair after a consistency check."""
        entries = store.latest_entries(conn, self.lg_code, resident_codes)
        return self.send_identity_records(conn, entries, now)

    def send_identity_records(
        self, conn: Connection, entries: list[RegisterEntry], now: datetime
    ) -> int:
        """The current records of many entries (each with a code) upward, batched."""
        bodies = [identity_record_body(e.identity_record()) for e in entries]
        for i in range(0, len(bodies), MAX_RECORDS_PER_UPDATE):
            self.outbox.enqueue(
                conn,
                self.credentials,
                receiver=PREFECTURE_NODE,
                message_type=MessageType.IDENTITY_UPDATE,
                body=identity_update_body(bodies[i : i + MAX_RECORDS_PER_UPDATE]),
                now=now,
            )
        return len(bodies)

    def _send_move_in_notice(self, conn: Connection, entry: RegisterEntry, now: datetime) -> None:
        assert entry.previous_lg_code is not None
        body = {
            "resident_code": move_in_notice_code(entry, today_in_japan(self.clock), self.rule),
            "name": entry.name,
            "birth_date": entry.birth_date.isoformat(),
            "previous_address": entry.previous_address,
            "new_lg_code": entry.lg_code,
            "new_address": entry.address,
            "move_in_date": entry.change_date.isoformat(),
        }
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=municipal_node(entry.previous_lg_code),
            message_type=MessageType.MOVE_IN_NOTICE,
            body=body,
            now=now,
        )

    def request_pool_if_low(self, conn: Connection, now: datetime) -> bool:
        """Ask the national center for codes when the pool runs low (one request at a time)."""
        if store.pool_has_at_least(conn, self.lg_code, POOL_LOW_WATER):
            return False
        outstanding = conn.execute(
            select(pool_requests.c.id).where(
                pool_requests.c.lg_code == self.lg_code, pool_requests.c.fulfilled_at.is_(None)
            )
        ).first()
        if outstanding is not None:
            return False
        conn.execute(
            insert(pool_requests).values(
                lg_code=self.lg_code, count=POOL_REQUEST_SIZE, requested_at=now
            )
        )
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=NATIONAL_NODE,
            message_type=MessageType.POOL_REQUEST,
            body={"lg_code": self.lg_code, "count": POOL_REQUEST_SIZE},
            now=now,
        )
        return True

    # --- incoming ------------------------------------------------------------------------

    def on_pool_allocation(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        body = opened.envelope.body
        if body.get("lg_code") != self.lg_code:
            raise RuleViolation("lg_code", "wrong_municipality", "allocation for another node")
        store.add_pool_codes(conn, self.lg_code, self._allocated(conn, body.get("codes")), now)
        conn.execute(
            update(pool_requests)
            .where(pool_requests.c.lg_code == self.lg_code, pool_requests.c.fulfilled_at.is_(None))
            .values(fulfilled_at=now)
        )

    def _allocated(self, conn: Connection, codes: object) -> list[str]:
        """The codes of an allocation: valid, and new here (the national center designates a
        code once; one held already would reset its state in the pool)."""
        if not isinstance(codes, list):
            raise RuleViolation("codes", "type", "must be a list of resident codes")
        for i, code in enumerate(codes):
            validate_resident_code(code, f"codes[{i}]")
        pooled = store.pooled_codes(conn, codes)
        seen: set[str] = set()
        for i, code in enumerate(codes):
            if code in pooled or code in seen:
                raise RuleViolation(f"codes[{i}]", "already_designated", f"{code} is held already")
            seen.add(code)
        return codes

    def on_move_in_notice(
        self, register: MunicipalRegister, conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        """Complete the removal at the former municipality (転出確定)."""
        body: dict[str, Any] = opened.envelope.body
        new_lg_code = validate_lg_code(str(body.get("new_lg_code")), "new_lg_code")
        if municipal_node(new_lg_code) != opened.envelope.sender:
            raise RuleViolation("new_lg_code", "sender_mismatch", "notice from another node")
        move_in_date = body_date(body, "move_in_date")
        new_address = body.get("new_address")
        if not isinstance(new_address, str) or not new_address.strip():
            raise RuleViolation("new_address", "required", "the address moved to, as text")
        storable_text(new_address, "new_address")
        entry_id, entry = self._find_mover(conn, body)
        if entry.status is EntryStatus.ACTIVE:
            removal = Removal(
                ChangeReason.MOVE_OUT,
                min(move_in_date, today_in_japan(self.clock)),
                destination_address=new_address,
                destination_lg_code=new_lg_code,
            )
            try:
                register.record_in(conn, removal, entry.resident_code, entry_id=entry_id)
            except RuleViolation as exc:  # named as the notice names it
                field = _NOTICE_FIELDS.get(exc.field, exc.field)
                raise RuleViolation(field, exc.rule, exc.message) from exc
        conn.execute(
            update(residents)
            .where(residents.c.id == entry_id)
            .values(move_out_confirmed_on=move_in_date)
        )

    def _find_mover(self, conn: Connection, body: dict[str, Any]) -> tuple[int, RegisterEntry]:
        code = body.get("resident_code")
        candidates: list[tuple[int, RegisterEntry]] = []
        if code:
            entries = store.get_entries_by_code(conn, self.lg_code, validate_resident_code(code))
            candidates = [(s.id, s.entry) for s in entries]
        if not candidates:
            # A blank code (foreign resident before 2013-07-08), or a code the new municipality
            # drew for someone who had none here: match name and birth date among entries
            # without a code.
            name = storable_text(str(body.get("name", "")), "name")
            found = store.search_entries(
                conn,
                self.lg_code,
                name=name,
                birth_date=body_date(body, "birth_date"),
                include_removed=True,
            )
            key = name_search_key(name)
            candidates = [
                (s.id, s.entry)
                for s in found
                if name_search_key(s.entry.name) == key
                and not (code and s.entry.resident_code is not None)
            ]
        movable = [
            (i, e) for i, e in candidates if e.active or e.change_reason is ChangeReason.MOVE_OUT
        ]
        if len(movable) != 1:
            raise RuleViolation(
                "resident_code",
                "mover_not_found" if not movable else "several_candidates",
                f"{len(movable)} entries match the move-in notice",
            )
        return movable[0]

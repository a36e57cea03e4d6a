"""The municipal register service: every event validates, changes the state and appends its
history row in one transaction. It is the origin of every identity-record change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock, today_in_japan
from jukinet.domain import reference
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import ChangeReason
from jukinet.domain.register import (
    FOREIGN_RESIDENT_RULE,
    HEAD_OF_HOUSEHOLD,
    Event,
    ForeignResidentRule,
    ItemChange,
    NewEntry,
    RegisterEntry,
    Removal,
    apply_change,
)
from jukinet.services.municipal.cards import cards_on_register_change
from jukinet.store import register as store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.tenancy import tenant

NEW_HOUSEHOLD = "new"
"""``household_id`` value on a move within that founds a new household."""


class PoolExhaustedError(RuntimeError):
    """The municipality has no available resident codes; the national center must designate more."""


@dataclass(frozen=True, slots=True)
class EntryWithHistory:
    id: int
    current: RegisterEntry
    history: list[tuple[RegisterEntry, datetime]]


class ChangeNotifier(Protocol):
    """Told of every change inside its transaction (the network link writes its outbox)."""

    def changed(
        self,
        conn: Connection,
        entry: RegisterEntry,
        previous: RegisterEntry | None,
        now: datetime,
    ) -> None: ...


class MunicipalRegister:
    """One municipality's register (several may share a database, isolated by lg code)."""

    def __init__(
        self,
        engine: Engine,
        lg_code: str,
        clock: Clock,
        notifier: ChangeNotifier | None = None,
        *,
        rule: ForeignResidentRule = FOREIGN_RESIDENT_RULE,
    ) -> None:
        self.engine = engine
        self.lg_code = reference.municipality(lg_code).lg_code
        self.clock = clock
        self.notifier = notifier
        self.rule = rule

    def record(
        self, event: Event, resident_code: str | None = None, *, entry_id: int | None = None
    ) -> RegisterEntry:
        """Record ``event`` for the person with ``resident_code`` (new entries: the event's);
        an entry without a code (a foreign resident before the applicable date) is named by
        ``entry_id``."""
        with write_transaction(self.engine) as conn:
            return self.record_in(conn, event, resident_code, entry_id=entry_id)

    def record_in(
        self,
        conn: Connection,
        event: Event,
        resident_code: str | None = None,
        *,
        entry_id: int | None = None,
    ) -> RegisterEntry:
        """``record`` inside the caller's transaction (e.g. a message being applied)."""
        with tenant(conn, lg_code=self.lg_code):
            return self._record_in(conn, event, resident_code, entry_id)

    def _record_in(
        self, conn: Connection, event: Event, resident_code: str | None, entry_id: int | None
    ) -> RegisterEntry:
        now = self.clock.now()
        today = today_in_japan(self.clock)
        _check_known_municipalities(event)
        previous = None
        if isinstance(event, NewEntry):
            new = self._create(conn, event, now, today)
        else:
            stored = self._active_entry(conn, resident_code, entry_id)
            previous = stored.entry if stored else None
            if isinstance(event, ItemChange):
                event = self._resolve_item_change(conn, event, previous, now)
            new = apply_change(previous, event, lg_code=self.lg_code, today=today, rule=self.rule)
            assert stored is not None  # apply_change refuses a missing entry
            store.update_entry(conn, stored.id, new, now)
            old_code = stored.entry.resident_code
            if old_code is not None and new.resident_code != old_code:
                store.retire_code(conn, self.lg_code, old_code, now)
        cards_on_register_change(conn, self.lg_code, new, previous, now)
        if self.notifier is not None:
            self.notifier.changed(conn, new, previous, now)
        return new

    def _active_entry(
        self, conn: Connection, resident_code: str | None, entry_id: int | None
    ) -> store.StoredEntry | None:
        if entry_id is not None:
            stored = store.get_entry_by_id(conn, self.lg_code, entry_id)
            if stored is not None and resident_code not in (None, stored.entry.resident_code):
                raise RuleViolation(
                    "entry_id", "code_mismatch", f"entry {entry_id} is not {resident_code}'s"
                )
            return stored if stored is not None and stored.entry.active else None
        if resident_code is None:
            raise RuleViolation("resident_code", "required", "name the resident to change")
        return store.get_active_entry(conn, self.lg_code, resident_code)

    def _create(
        self, conn: Connection, event: NewEntry, now: datetime, today: date
    ) -> RegisterEntry:
        current = None
        # A foreign resident before the applicable date gets no code (apply_change checks).
        on_network = self.rule.on_network(event.kind, today)
        if on_network and event.resident_code is not None:
            stored = store.get_active_entry(conn, self.lg_code, event.resident_code)
            current = stored.entry if stored else None
            if store.pool_code_state(conn, event.resident_code) == store.PoolState.RETIRED:
                raise RuleViolation(
                    "resident_code", "retired", "this code was given up and is never used again"
                )
        elif on_network:
            event = replace(event, resident_code=self._draw_code(conn, now))
        if event.household_id is None:
            event = replace(
                event,
                household_id=store.next_household_id(conn, self.lg_code),
                relationship=HEAD_OF_HOUSEHOLD,
            )
        else:
            self._require_household(conn, event.household_id)
        new = apply_change(current, event, lg_code=self.lg_code, today=today, rule=self.rule)
        store.insert_entry(conn, new, now)
        return new

    def _resolve_item_change(
        self, conn: Connection, event: ItemChange, current: RegisterEntry | None, now: datetime
    ) -> ItemChange:
        if current is None or not current.active:
            return event  # apply_change names the problem
        code_events = (ChangeReason.RESIDENT_CODE_CHANGE, ChangeReason.RESIDENT_CODE_ASSIGNMENT)
        if event.reason in code_events and event.resident_code is None:
            event = replace(event, resident_code=self._draw_code(conn, now))
        if event.household_id == NEW_HOUSEHOLD:
            event = replace(
                event,
                household_id=store.next_household_id(conn, self.lg_code),
                relationship=HEAD_OF_HOUSEHOLD,
            )
        elif event.household_id is not None and event.household_id != current.household_id:
            self._require_household(conn, event.household_id)
        return event

    def _require_household(self, conn: Connection, household_id: str) -> None:
        if not store.household_members(conn, self.lg_code, household_id):
            raise RuleViolation(
                "household_id", "unknown_household", f"no active household {household_id} here"
            )

    def _draw_code(self, conn: Connection, now: datetime) -> str:
        code = store.draw_pool_code(conn, self.lg_code, now)
        if code is None:
            raise PoolExhaustedError(f"no available resident codes for {self.lg_code}")
        return code

    def show(self, resident_code: str) -> list[EntryWithHistory]:
        """Every entry (newest first) the person has had here, each with its history."""
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            entries = store.get_entries_by_code(conn, self.lg_code, resident_code)
            return [
                EntryWithHistory(s.id, s.entry, store.entry_history(conn, s.id)) for s in entries
            ]

    def search(
        self,
        *,
        name: str | None = None,
        birth_date: date | None = None,
        address: str | None = None,
        include_removed: bool = False,
        limit: int = 100,
    ) -> list[RegisterEntry]:
        if not (name or birth_date or address):
            raise RuleViolation("query", "required", "give a name, a birth date or an address")
        with read_transaction(self.engine) as conn, tenant(conn, lg_code=self.lg_code):
            found = store.search_entries(
                conn,
                self.lg_code,
                name=name,
                birth_date=birth_date,
                address=address,
                include_removed=include_removed,
                limit=limit,
            )
        return [s.entry for s in found]

    def known_codes(self) -> set[str]:
        """Every code this node has seen (pool or register), so fresh draws avoid them."""
        with read_transaction(self.engine) as conn:
            return store.known_codes(conn)

    def designate_codes(self, codes: list[str]) -> None:
        """Add codes designated by the national center to this municipality's pool."""
        with write_transaction(self.engine) as conn:
            store.add_pool_codes(conn, self.lg_code, codes, self.clock.now())


def _check_known_municipalities(event: Event) -> None:
    """Other municipalities an event names must exist (not just be well-formed)."""
    code = None
    field = ""
    if isinstance(event, NewEntry) and event.previous_lg_code is not None:
        code, field = event.previous_lg_code, "previous_lg_code"
    elif isinstance(event, Removal) and event.destination_lg_code is not None:
        code, field = event.destination_lg_code, "destination_lg_code"
    if code is not None:
        try:
            reference.municipality(code)
        except RuleViolation as exc:
            raise RuleViolation(field, exc.rule, exc.message) from exc

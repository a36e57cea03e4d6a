"""Foreign residents join Juki-net on the applicable date (2013-07-08).

Before it they are on the municipal register without a resident code (the register and the
network link follow ``ForeignResidentRule``). On it, every municipality gives each foreign
resident already registered a code from its pool and reports the identity record upward:
``assign_codes``, behind ``jukinet foreign-residents assign-codes``.

The work is set-based: per batch, one statement draws the codes, one updates the entries,
one appends their history rows and one message carries up to 1,000 identity records, all in
one transaction, so a crash leaves each batch either done (with its messages queued) or not
started. It is idempotent: an entry that has a code is never selected again, so running the
command twice (or after a crash) only finishes what is left. Removed entries (除票) get no code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jukinet.clock import today_in_japan
from jukinet.domain.identity import ChangeReason
from jukinet.domain.register import ItemChange, RegisterEntry, apply_change
from jukinet.net.bodies import MAX_RECORDS_PER_UPDATE
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.store import register as store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.tenancy import tenant

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Assignment:
    """What a run did: codes assigned, foreign residents still without one, and whether the
    pool ran dry (more codes were then requested from the national center)."""

    lg_code: str
    assigned: int
    remaining: int
    pool_exhausted: bool


class ForeignResidentCodes:
    """Code assignment for one municipality's foreign residents."""

    def __init__(
        self,
        register: MunicipalRegister,
        link: MunicipalLink,
        *,
        batch_size: int = MAX_RECORDS_PER_UPDATE,
    ) -> None:
        self.register = register
        self.link = link
        self.batch_size = min(batch_size, MAX_RECORDS_PER_UPDATE)

    @property
    def lg_code(self) -> str:
        return self.register.lg_code

    def without_code(self) -> int:
        """Active foreign residents' entries still without a resident code."""
        with read_transaction(self.register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            return store.count_active_without_code(conn, self.lg_code)

    def assign_codes(self, progress: Progress | None = None) -> Assignment:
        """Give every active foreign resident without a code one from the pool and send the
        identity records upward. Refused before the applicable date."""
        today = today_in_japan(self.register.clock)
        self.register.rule.require_applicable(today, "assign-codes")
        total = self.without_code()
        done = 0
        exhausted = False
        if progress is not None:
            progress(0, total)
        while True:
            assigned, exhausted = self._assign_batch()
            done += assigned
            if progress is not None:
                progress(done, max(total, done))
            if assigned == 0 or exhausted:
                break
        return Assignment(self.lg_code, done, self.without_code(), exhausted)

    def _assign_batch(self) -> tuple[int, bool]:
        """One batch in one transaction; returns (assigned, pool exhausted)."""
        register = self.register
        now = register.clock.now()
        today = today_in_japan(register.clock)
        with write_transaction(register.engine) as conn, tenant(conn, lg_code=self.lg_code):
            batch = store.lock_active_without_code(conn, self.lg_code, self.batch_size)
            if not batch:
                return 0, False
            codes = store.draw_pool_codes(conn, self.lg_code, len(batch), now)
            updated: list[tuple[int, RegisterEntry]] = []
            for stored, code in zip(batch, codes, strict=False):
                event = ItemChange(ChangeReason.RESIDENT_CODE_ASSIGNMENT, today, resident_code=code)
                new = apply_change(
                    stored.entry, event, lg_code=self.lg_code, today=today, rule=register.rule
                )
                updated.append((stored.id, new))
            store.update_entries(conn, updated, now)
            self.link.send_identity_records(conn, [entry for _id, entry in updated], now)
            self.link.request_pool_if_low(conn, now)
            return len(updated), len(codes) < len(batch)

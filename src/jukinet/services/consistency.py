"""Consistency between tiers (DESIGN.md, "Consistency"): compare, per municipality, what the
municipal register, the prefectural tenant and the national center hold, and repair what
differs by resending from the lower tier.

A tier's *view* of a municipality is the set of identity records of its residents:

- municipality: the identity record of every active register entry;
- prefecture and national center: every current record with that lg code that is neither a
  removal nor superseded by a resident-code change (the prefecture in the tenant
  ``lg_code[:2]``).

Each view is reduced to a count, an overall digest and one fingerprint per resident code
(``identity_records.record_fingerprint``), streamed from one query per tier: a municipality may
have a million residents, so nothing here queries per row. The engines are separate
arguments, so the check works whether the tiers share a process or not.

Views are read one after the other, not in one snapshot: a change still travelling upward
shows as a difference. Check a drained network, or check again; resending is always safe
(the receiver applies the latest version the municipality holds, in channel order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, select

from jukinet.domain.register import EntryStatus
from jukinet.services.municipal.network import MunicipalLink
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import (
    NATIONAL,
    PREFECTURAL,
    Digest,
    Tier,
    digest_of_fingerprints,
    record_fingerprint,
    row_to_record,
)
from jukinet.store.register import row_to_entry
from jukinet.store.tables import resident_history, residents

STREAM_ROWS = 10_000
"""Rows fetched per round trip while streaming a view (server-side cursor on PostgreSQL)."""

IN_CHUNK = 5_000
"""Codes per ``IN (...)`` list: below SQLite's bound-parameter limit, few round trips."""

_IDENTITY_COLUMNS = (
    "resident_code",
    "lg_code",
    "name",
    "name_kana",
    "alias",
    "former_surname",
    "birth_date",
    "sex",
    "address",
    "change_reason",
    "change_date",
)


class TierName(StrEnum):
    MUNICIPALITY = "municipality"
    PREFECTURE = "prefecture"
    NATIONAL = "national"


# --- views ------------------------------------------------------------------------------------


def _stream_digest(conn: Connection, query: Select[Any]) -> Digest:
    codes: dict[str, str] = {}
    for row in conn.execute(query.execution_options(yield_per=STREAM_ROWS)):
        codes[row.resident_code] = record_fingerprint(row_to_record(row))
    return digest_of_fingerprints(codes)


def _identity_select(table: Table) -> Select[Any]:
    return select(*(table.c[name] for name in _IDENTITY_COLUMNS))


def municipal_view(conn: Connection, lg_code: str) -> Digest:
    """The identity records of the municipality's active register entries (an entry without a
    resident code, a foreign resident before the applicable date, has none)."""
    return _stream_digest(
        conn,
        _identity_select(residents).where(
            residents.c.lg_code == lg_code,
            residents.c.status == EntryStatus.ACTIVE.value,
            residents.c.resident_code.is_not(None),
        ),
    )


def upper_view(conn: Connection, tier: Tier, lg_code: str) -> Digest:
    """The records an upper tier holds as the municipality's living residents."""
    tenant = lg_code[:2] if tier.tenant_column is not None else None
    table = tier.current
    return _stream_digest(
        conn,
        _identity_select(table).where(
            table.c.lg_code == lg_code,
            table.c.superseded_by.is_(None),
            table.c.removed.is_(False),
            *tier.tenant_filter(table, tenant),
        ),
    )


def prefectural_view(conn: Connection, lg_code: str) -> Digest:
    return upper_view(conn, PREFECTURAL, lg_code)


def national_view(conn: Connection, lg_code: str) -> Digest:
    return upper_view(conn, NATIONAL, lg_code)


# --- comparison -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TierComparison:
    """One lower tier against the tier above it; the code lists are complete and sorted."""

    lower: TierName
    upper: TierName
    lower_count: int
    upper_count: int
    lower_digest: str
    upper_digest: str
    missing: tuple[str, ...]  # held by the lower tier, absent from the upper
    extra: tuple[str, ...]  # held by the upper tier, absent from the lower
    different: tuple[str, ...]  # held by both, with different content

    @property
    def matches(self) -> bool:
        return self.lower_digest == self.upper_digest

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(sorted({*self.missing, *self.extra, *self.different}))

    def finding(self, code: str) -> str | None:
        """What is wrong with ``code`` at the upper tier, in a few words (``None``: nothing)."""
        if code in self.missing:
            return f"missing at {self.upper}"
        if code in self.extra:
            return f"extra at {self.upper}"
        if code in self.different:
            return f"different at {self.upper}"
        return None


def compare(
    lower: TierName, lower_view: Digest, upper: TierName, upper_view: Digest
) -> TierComparison:
    """Set differences of two views' fingerprints (equal digests: nothing to look at)."""
    missing: list[str] = []
    extra: list[str] = []
    different: list[str] = []
    if lower_view.digest != upper_view.digest:
        low, up = lower_view.codes, upper_view.codes
        missing = sorted(low.keys() - up.keys())
        extra = sorted(up.keys() - low.keys())
        different = sorted(c for c in low.keys() & up.keys() if low[c] != up[c])
    return TierComparison(
        lower,
        upper,
        lower_view.count,
        upper_view.count,
        lower_view.digest,
        upper_view.digest,
        tuple(missing),
        tuple(extra),
        tuple(different),
    )


@dataclass(frozen=True, slots=True)
class MunicipalityReport:
    """The three views of one municipality and the two adjacent comparisons (municipality →
    prefecture, prefecture → national); if both match, every pair of tiers matches."""

    lg_code: str
    counts: dict[TierName, int]
    digests: dict[TierName, str]
    comparisons: tuple[TierComparison, ...]

    @property
    def clean(self) -> bool:
        return all(c.matches for c in self.comparisons)

    @property
    def differing_codes(self) -> tuple[str, ...]:
        """Every code that differs between any two adjacent tiers, sorted."""
        return tuple(sorted({code for c in self.comparisons for code in c.differing}))

    def comparison(self, lower: TierName, upper: TierName) -> TierComparison:
        for c in self.comparisons:
            if (c.lower, c.upper) == (lower, upper):
                return c
        raise KeyError((lower, upper))

    def findings(self, code: str) -> list[str]:
        return [f for c in self.comparisons if (f := c.finding(code)) is not None]


def report_of(lg_code: str, views: dict[TierName, Digest]) -> MunicipalityReport:
    """Compare the adjacent tiers of views already read (any process may have read them)."""
    order = [TierName.MUNICIPALITY, TierName.PREFECTURE, TierName.NATIONAL]
    comparisons = tuple(compare(low, views[low], up, views[up]) for low, up in pairwise(order))
    return MunicipalityReport(
        lg_code,
        {t: views[t].count for t in order},
        {t: views[t].digest for t in order},
        comparisons,
    )


def check_municipality(
    lg_code: str, *, municipal: Engine, prefectural: Engine, national: Engine
) -> MunicipalityReport:
    """Read the municipality's view in each tier's database and compare them."""
    with read_transaction(municipal) as conn:
        low = municipal_view(conn, lg_code)
    with read_transaction(prefectural) as conn:
        pref = prefectural_view(conn, lg_code)
    with read_transaction(national) as conn:
        nat = national_view(conn, lg_code)
    return report_of(
        lg_code, {TierName.MUNICIPALITY: low, TierName.PREFECTURE: pref, TierName.NATIONAL: nat}
    )


# --- repair -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepairOutcome:
    lg_code: str
    resent: int  # latest entries queued upward again
    relinked: tuple[str, ...]  # former codes resent as superseded by the person's current code
    unresolvable: tuple[str, ...]  # codes the municipality never held: it cannot repair them


def _chunks(codes: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(codes), IN_CHUNK):
        yield list(codes[i : i + IN_CHUNK])


def _held_codes(conn: Connection, lg_code: str, codes: Sequence[str]) -> set[str]:
    """Codes of register entries (active or removed) the municipality holds under them now."""
    held: set[str] = set()
    for chunk in _chunks(codes):
        held.update(
            conn.execute(
                select(residents.c.resident_code)
                .where(residents.c.lg_code == lg_code, residents.c.resident_code.in_(chunk))
                .distinct()
            ).scalars()
        )
    return held


def _former_codes(conn: Connection, lg_code: str, codes: Sequence[str]) -> dict[str, int]:
    """Codes given up in a resident-code change → the entry (row id) that now has another."""
    former: dict[str, int] = {}
    for chunk in _chunks(codes):
        rows = conn.execute(
            select(resident_history.c.resident_code, resident_history.c.resident_id)
            .where(
                resident_history.c.lg_code == lg_code,
                resident_history.c.resident_code.in_(chunk),
            )
            .distinct()
        )
        former.update({code: int(entry_id) for code, entry_id in rows})
    return former


def repair(
    report: MunicipalityReport, municipal: Engine, link: MunicipalLink, now: datetime
) -> RepairOutcome:
    """Queue the municipality's latest entry of every differing code upward again.

    Updates to the national center pass through the prefecture, so this one resend repairs
    both tiers. A code the upper tiers hold that the municipality only held before a
    resident-code change is resent as the person's current entry with that former code, so the
    upper tiers mark it superseded. Codes the municipality never held are returned as
    unresolvable: only their own municipality can repair them.
    """
    codes = report.differing_codes
    if not codes:
        return RepairOutcome(report.lg_code, 0, (), ())
    with write_transaction(municipal) as conn:
        held = _held_codes(conn, report.lg_code, codes)
        others = [c for c in codes if c not in held]
        former = _former_codes(conn, report.lg_code, others)
        resent = sum(link.resend(conn, now, chunk) for chunk in _chunks(sorted(held)))
        for former_code, entry_id in sorted(former.items()):
            row = conn.execute(select(residents).where(residents.c.id == entry_id)).one()
            link.send_identity_update(conn, row_to_entry(row), former_code, now)
    unresolvable = tuple(c for c in others if c not in former)
    return RepairOutcome(report.lg_code, resent, tuple(sorted(former)), unresolvable)

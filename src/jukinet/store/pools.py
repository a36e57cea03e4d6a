"""National registry of designated resident codes: pools never overlap, codes never repeat."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, select

from jukinet.store.spine import insert_ignoring_conflict
from jukinet.store.tables import national_code_designations

CHUNK = 5000


def taken_codes(conn: Connection, codes: Collection[str]) -> set[str]:
    """Which of ``codes`` were ever designated or seen."""
    listed = list(codes)
    taken: set[str] = set()
    for i in range(0, len(listed), CHUNK):
        chunk = listed[i : i + CHUNK]
        taken.update(
            conn.execute(
                select(national_code_designations.c.resident_code).where(
                    national_code_designations.c.resident_code.in_(chunk)
                )
            ).scalars()
        )
    return taken


def register_codes(conn: Connection, codes: dict[str, str], at: datetime) -> None:
    """Record codes (code -> lg code) as designated; already known codes stay as they are."""
    if codes:
        insert_ignoring_conflict(
            conn,
            national_code_designations,
            [{"resident_code": c, "lg_code": lg, "designated_at": at} for c, lg in codes.items()],
        )


def designate_codes(conn: Connection, lg_code: str, codes: Collection[str], at: datetime) -> None:
    """Designate fresh codes (already checked against ``taken_codes``) in one statement."""
    if codes:
        conn.execute(
            national_code_designations.insert(),
            [{"resident_code": c, "lg_code": lg_code, "designated_at": at} for c in codes],
        )

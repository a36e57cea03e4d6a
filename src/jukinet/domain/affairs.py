"""Recipients and the legal affairs (別表第一) for which they may receive identity records.

The pairs are those of the 2013 gazette notice (47 affairs of 21 recipients as listed in the
shared data; DOMAIN.md says 22), shipped with the
package (``reference/data/affairs_2013.csv``, copied from the project's shared data). New
pairs are added by law; the national center's database holds the live list (seeded from this).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files

from jukinet.domain.errors import RuleViolation


class RecipientKind(StrEnum):
    NATIONAL_AGENCY = "national_agency"  # 国の機関
    CORPORATION = "corporation"  # 法人
    DESIGNATED_BODY = "designated_body"  # 指定法人等
    CERTIFICATE_AUTHORITY = "cert_authority"  # 公的個人認証の認証局: reads the revocation feed


@dataclass(frozen=True, slots=True)
class Affair:
    """One (recipient, affair) pair of the Act's annex table."""

    affair_id: str
    recipient: str
    recipient_kind: RecipientKind
    law: str
    affair: str


@cache
def affairs_2013() -> tuple[Affair, ...]:
    text = (
        files("jukinet.domain.reference")
        .joinpath("data", "affairs_2013.csv")
        .read_text(encoding="utf-8")
    )
    return tuple(
        Affair(
            affair_id=row["affair_id"],
            recipient=row["recipient"],
            recipient_kind=RecipientKind(row["recipient_kind"]),
            law=row["law"],
            affair=row["affair"],
        )
        for row in csv.DictReader(io.StringIO(text))
    )


def affair_2013(affair_id: str) -> Affair:
    """The pair with this id, or a RuleViolation naming it."""
    for affair in affairs_2013():
        if affair.affair_id == affair_id:
            return affair
    raise RuleViolation("affair_id", "unknown_affair", f"no affair {affair_id!r} in the annex")

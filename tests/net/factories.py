"""Data builders for network tests."""

from __future__ import annotations

import random
from datetime import date

from jukinet.domain.codes import make_resident_code
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex


def identity_record(lg_code: str = "131016", seed: int = 0) -> IdentityRecord:
    rng = random.Random(seed)
    return IdentityRecord(
        resident_code=make_resident_code(f"{rng.randrange(10**10):010d}"),
        lg_code=lg_code,
        name="山田　太郎",
        birth_date=date(1980, 1, 1 + seed % 28),
        sex=Sex.MALE,
        address="東京都千代田区千代田1番1号",
        change_reason=ChangeReason.MOVE_IN,
        change_date=date(2014, 3, 1),
    )

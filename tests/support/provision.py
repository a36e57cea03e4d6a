"""Builders shared by the provision tests: national records, affairs, a one-resident network."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from jukinet.clock import Clock
from jukinet.domain.codes import draw_resident_codes, make_resident_code
from jukinet.domain.identity import ChangeReason, IdentityRecord, Sex
from jukinet.domain.register import NewEntry
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.store import provision as store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import NATIONAL, apply_versions

PENSION = "日本年金機構"


def resident_code(n: int) -> str:
    return make_resident_code(f"{n:010d}")


def national_record(n: int, name: str, **kw: object) -> IdentityRecord:
    """A current national record with plain defaults, changed by keyword."""
    values: dict[str, object] = {
        "resident_code": resident_code(n),
        "lg_code": "131016",
        "name": name,
        "birth_date": date(1940, 4, 1),
        "sex": Sex.MALE,
        "address": "東京都千代田区霞が関二丁目1番2号",
        "change_reason": ChangeReason.BIRTH,
        "change_date": date(1940, 4, 1),
    }
    values.update(kw)
    return IdentityRecord(**values)  # type: ignore[arg-type]


def store_national(engine: Engine, records: Iterable[IdentityRecord], clock: Clock) -> None:
    """Put records straight into the national tier, as if they had arrived."""
    with write_transaction(engine) as conn:
        apply_versions(
            conn,
            NATIONAL,
            [(r, None) for r in records],
            tenant=None,
            source="t",
            source_seq=1,
            at=clock.now(),
        )


def first_affair(engine: Engine, recipient: str = PENSION) -> str:
    with read_transaction(engine) as conn:
        return store.affairs_of(conn, recipient)[0].affair_id


def network_with_national_on(engine: Engine, tmp_path: Path, clock: Clock) -> EmbeddedNetwork:
    """An embedded network of 131016 whose national node uses ``engine``'s database kind
    (the given PostgreSQL database, or SQLite files)."""
    url = engine.url.render_as_string(hide_password=False)

    def database(name: str) -> str:
        if name == "national" and engine.dialect.name == "postgresql":
            return url
        return f"sqlite:///{tmp_path / (name + '.db')}"

    return build_embedded(tmp_path / "home", clock, ["131016"], database_url=database)


def register_one_resident(network: EmbeddedNetwork) -> str:
    """A birth at 131016, carried up to the national center; returns the resident code."""
    register = network.municipality("131016").register("131016")
    register.designate_codes(draw_resident_codes(random.Random(7), 1))
    day = date(2014, 1, 5)
    entry = NewEntry(ChangeReason.BIRTH, day, "鈴木　一郎", day, Sex.MALE, "東京都千代田区1番")
    code = register.record(entry).resident_code
    assert code is not None  # a birth always draws a code from the pool
    network.drain()
    return code

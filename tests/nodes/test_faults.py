"""Through a misbehaving network every change still arrives exactly once, in order."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jukinet.clock import FixedClock
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import ItemChange, NewEntry, Removal
from jukinet.net.transport import Faults, FaultyTransport, Transport
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.store.db import read_transaction
from jukinet.store.identity_records import NATIONAL, digest_of, municipality_records
from jukinet.store.register import latest_entries
from jukinet.store.tables import national_identity_history, outbox

LG_CODES = ("131016", "142042")

FAULTS = {
    "drop_request": Faults(drop_request=0.3),
    "drop_response": Faults(drop_response=0.3),
    "duplicate": Faults(duplicate=0.5),
    "reorder": Faults(reorder=0.5),
    "delay": Faults(delay_seconds=0.002),
    "corrupt": Faults(corrupt=0.2),
    "replay": Faults(replay=0.5),
    "everything": Faults(
        drop_request=0.1,
        drop_response=0.1,
        duplicate=0.2,
        reorder=0.2,
        corrupt=0.1,
        replay=0.2,
    ),
}


def run_changes(network: EmbeddedNetwork, clock: FixedClock, seed: int) -> int:
    """Births, moves within, name changes and deaths across two municipalities."""
    rng = random.Random(seed)
    changes = 0
    for lg_code in LG_CODES:
        register = network.municipality(lg_code).register(lg_code)
        codes = []
        for i in range(12):
            day = date(2014, 3, 1)
            entry = register.record(
                NewEntry(ChangeReason.BIRTH, day, f"試験　{i}", day, Sex.MALE, f"住所{i}番地")
            )
            codes.append(entry.resident_code)
            changes += 1
            network.drain(max_rounds=2)  # let some traffic interleave with new changes
        for code in rng.sample(codes, 6):
            register.record(
                ItemChange(ChangeReason.MOVE_WITHIN, date(2014, 3, 2), address=f"新住所{code}"),
                code,
            )
            changes += 1
        for code in rng.sample(codes, 3):
            register.record(Removal(ChangeReason.DEATH, date(2014, 3, 3)), code)
            changes += 1
    return changes


def settle(network: EmbeddedNetwork, clock: FixedClock) -> None:
    """Drain, moving time past every backoff, until no outbox has anything left."""
    for _ in range(200):
        network.drain()
        pending = 0
        for node in network.nodes:
            with read_transaction(node.engine) as conn:
                pending += conn.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
                ).scalar_one()
        if pending == 0:
            return
        clock.advance(timedelta(minutes=1))
    raise AssertionError("messages still undelivered after 200 rounds")


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_changes_arrive_exactly_once_through_faults(tmp_path: Path, name: str) -> None:
    clock = FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))
    faulty: list[FaultyTransport] = []

    def wrap(inner: Transport) -> Transport:
        faulty.append(FaultyTransport(inner, FAULTS[name], seed=7))
        return faulty[0]

    network = build_embedded(tmp_path, clock, LG_CODES, wrap=wrap)
    try:
        for m in network.municipal:
            m.request_initial_pools()
        settle(network, clock)
        changes = run_changes(network, clock, seed=3)
        settle(network, clock)
        assert faulty[0].injected, "the faults were never injected"
        with read_transaction(network.national.engine) as conn:
            history = conn.execute(
                select(func.count()).select_from(national_identity_history)
            ).scalar_one()
            national = {
                lg: digest_of(
                    [r for r in municipality_records(conn, NATIONAL, lg) if not r.removed]
                )
                for lg in LG_CODES
            }
        assert history == changes  # each change applied exactly once
        for lg_code in LG_CODES:
            node = network.municipality(lg_code).node
            with read_transaction(node.engine) as conn:
                local = [e.identity_record() for e in latest_entries(conn, lg_code)]
            living = digest_of([r for r in local if not r.removed])
            assert national[lg_code].digest == living.digest
    finally:
        network.dispose()

"""The demonstration network ``jukinet up`` runs: real municipalities in two prefectures,
seeded once with a synthetic population that is then uploaded through the network."""

from __future__ import annotations

from collections.abc import Callable

from jukinet.clock import today_in_japan
from jukinet.domain.register import EntryStatus
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.population import generate_population, load_population
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.register import count_entries

DEMO_MUNICIPALITIES = ("131016", "131130", "142042")
"""千代田区 and 渋谷区 (東京都), 鎌倉市 (神奈川県)."""

Progress = Callable[[int, int], None]


def load_and_upload(
    network: EmbeddedNetwork,
    lg_code: str,
    residents: int,
    seed: int,
    progress: Progress | None = None,
) -> int:
    """Bulk-load a synthetic population into a municipality and queue its upload upward."""
    municipal = network.municipality(lg_code)
    clock = municipal.node.clock
    frame = generate_population(lg_code, residents, seed, as_of=today_in_japan(clock))
    loaded = load_population(
        municipal.node.engine, frame, recorded_at=clock.now(), progress=progress
    )
    with write_transaction(municipal.node.engine) as conn:
        municipal.links[lg_code].resend(conn, clock.now())
    return loaded


def seed_demo_population(
    network: EmbeddedNetwork,
    residents_each: int,
    *,
    seed: int = 2014,
    progress: Callable[[str], Progress] | None = None,
) -> dict[str, int]:
    """Seed every municipality of the network that has no residents yet; returns counts."""
    counts: dict[str, int] = {}
    for i, municipal in enumerate(network.municipal):
        for lg_code in municipal.registers:
            with read_transaction(municipal.node.engine) as conn:
                existing = count_entries(conn, lg_code, EntryStatus.ACTIVE)
            if existing == 0:
                existing = load_and_upload(
                    network,
                    lg_code,
                    residents_each,
                    seed + i,
                    progress(lg_code) if progress else None,
                )
            counts[lg_code] = existing
    return counts

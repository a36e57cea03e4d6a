"""The demonstration network ``jukinet up`` runs: real municipalities in two prefectures,
seeded once with a synthetic population that is then uploaded through the network, and the
operators who may use it.

Demo operators
--------------
Every API route but the public ones (``/healthz``, ``/metrics``, ``/login``, ``/auth/...``,
``/openapi.json``, ``/docs`` and the node-to-node ``/network/messages``) needs a logged-in
operator. On the first start (an empty operator directory) ``jukinet up`` registers
(``setup_demo_operators``):

- for each demo municipality (131016 千代田区, 131130 渋谷区, 142042 鎌倉市) an administrator
  ``admin-<lg code>`` and a registrar ``registrar-<lg code>``;
- for the national center an auditor ``auditor-national`` and an administrator
  ``admin-national`` (both may open the network status page ``/`` and ``/network/status``).

Each gets a legacy operator card (card number + random password) whose organisation's cutoff
lies ``DEMO_LEGACY_DAYS`` days ahead. The cards and passwords are printed once, on that first
start, and never again (only their scrypt hashes are stored). A newcomer logs in at ``/login``
with a card (or ``POST /auth/legacy/login``), e.g. as ``registrar-131016`` to read
``/municipalities/131016/residents``; the municipality's administrator then issues an
enrolment token (``POST /operators/<login>/enrolment-tokens``) with which the operator enrols
a WebAuthn authenticator on the login page, before the card's cutoff. Lost the printed
passwords? ``jukinet operator enrol-token <login>`` issues a token from the host.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from jukinet.clock import today_in_japan
from jukinet.domain import reference
from jukinet.domain.operators import Role
from jukinet.domain.register import EntryStatus
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.operators import OperatorService
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


# --- operators ------------------------------------------------------------------------------

DEMO_LEGACY_DAYS = 180
"""The demo organisations accept operator cards for this many days after the first start."""

NATIONAL_NAME = "全国センター（地方公共団体情報システム機構）"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    """A demo operator's legacy credentials, as printed once on the first start."""

    organisation: str
    login: str
    role: Role
    card_number: str
    password: str


def setup_demo_operators(
    service: OperatorService, lg_codes: tuple[str, ...] = DEMO_MUNICIPALITIES
) -> list[DemoLogin]:
    """On an empty operator directory: the demo organisations (operator cards accepted for
    ``DEMO_LEGACY_DAYS``) and their operators with fresh random passwords, returned so the
    caller prints them once. A directory with operators already: nothing, an empty list."""
    if service.list_operators():
        return []
    cutoff = today_in_japan(service.clock) + timedelta(days=DEMO_LEGACY_DAYS)
    wanted: list[tuple[str, str, str, Role]] = []
    for lg_code in lg_codes:
        name = reference.municipality(lg_code).name
        org = service.add_organisation(f"municipality/{lg_code}", name, cutoff)
        wanted.append((org, f"admin-{lg_code}", f"{name} 管理者", Role.ADMINISTRATOR))
        wanted.append((org, f"registrar-{lg_code}", f"{name} 住民記録担当", Role.REGISTRAR))
    national = service.add_organisation("national", NATIONAL_NAME, cutoff)
    wanted.append((national, "auditor-national", "全国センター 監査担当", Role.AUDITOR))
    wanted.append((national, "admin-national", "全国センター 管理者", Role.ADMINISTRATOR))
    officer = Role.DISCLOSURE_OFFICER  # residents' disclosure requests, at both kinds of desk
    wanted.append((national, "disclosure-national", "全国センター 開示担当", officer))
    tokyo = service.add_organisation("prefecture/13", reference.prefecture("13").name, cutoff)
    wanted.append((tokyo, "disclosure-13", "東京都 開示担当", officer))
    logins: list[DemoLogin] = []
    for n, (org, login, display_name, role) in enumerate(wanted, start=1):
        card_number = f"DEMO-{n:04d}"
        password = secrets.token_urlsafe(12)
        service.add_operator(
            org, login, display_name, role, card_number=card_number, password=password
        )
        logins.append(DemoLogin(org, login, role, card_number, password))
    return logins

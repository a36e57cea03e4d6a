"""What the routes of a process can reach, and the dependency aliases they ask for it by."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine

from jukinet.clock import Clock
from jukinet.domain.errors import RuleViolation
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE
from jukinet.net.pki import TrustStore
from jukinet.net.receiver import Receiver
from jukinet.nodes.node import Node
from jukinet.nodes.roles import national_center_of
from jukinet.services.municipal.card_move import CardMoveService
from jukinet.services.municipal.cards import ResidentCardService
from jukinet.services.municipal.certificates import WideAreaCertificates
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.services.prefectural.provision_history import NationalCenterProvisions

T = TypeVar("T")


@dataclass
class AppServices:
    """The nodes this process hosts, as the HTTP layer sees them."""

    clock: Clock
    engines: Sequence[Engine]  # every database, for /healthz
    receivers: dict[str, Receiver] = field(default_factory=dict)  # node id -> inbox
    registers: dict[str, MunicipalRegister] = field(default_factory=dict)  # lg code
    certificates: dict[str, WideAreaCertificates] = field(default_factory=dict)  # lg code
    cards: dict[str, ResidentCardService] = field(default_factory=dict)  # lg code
    card_moves: dict[str, CardMoveService] = field(default_factory=dict)  # lg code
    national_engine: Engine | None = None
    national_trust: TrustStore | None = None  # verifies recipients' signed requests
    national_files: Path | None = None  # the national center's files (batch jobs, log segments)
    prefectural_engine: Engine | None = None  # the consolidated prefectural center's database
    national_center: NationalCenterProvisions | None = None  # where prefectures ask for provisions

    def register(self, lg_code: str) -> MunicipalRegister:
        try:
            return self.registers[lg_code]
        except KeyError:
            raise RuleViolation(
                "lg_code", "not_hosted", f"{lg_code} is not hosted on this node"
            ) from None

    def resident_cards(self, lg_code: str) -> ResidentCardService:
        return _hosted(self.cards, lg_code)

    def card_move(self, lg_code: str) -> CardMoveService:
        return _hosted(self.card_moves, lg_code)

    def wide_area_certificates(self, lg_code: str) -> WideAreaCertificates:
        return _hosted(self.certificates, lg_code)


def _hosted(services: dict[str, T], lg_code: str) -> T:
    try:
        return services[lg_code]
    except KeyError:
        raise RuleViolation(
            "lg_code", "not_hosted", f"{lg_code} is not hosted on this node"
        ) from None


def services_of(
    nodes: Sequence[Node],
    clock: Clock,
    registers: dict[str, MunicipalRegister] | None = None,
    certificates: dict[str, WideAreaCertificates] | None = None,
    *,
    cards: dict[str, ResidentCardService] | None = None,
    card_moves: dict[str, CardMoveService] | None = None,
) -> AppServices:
    """What the HTTP layer may reach of the nodes running in this process."""
    services = AppServices(clock=clock, engines=[n.engine for n in nodes])
    services.registers.update(registers or {})
    services.certificates.update(certificates or {})
    services.cards.update(cards or {})
    services.card_moves.update(card_moves or {})
    for node in nodes:
        for node_id in node.node_ids:
            services.receivers[node_id] = node.receiver
        if NATIONAL_NODE in node.node_ids:
            services.national_engine = node.engine
            services.national_trust = node.trust
            services.national_files = node.files
        if PREFECTURE_NODE in node.node_ids:
            services.prefectural_engine = node.engine
            services.national_center = national_center_of(node)
    return services


async def _services(request: Request) -> AppServices:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(_services)]

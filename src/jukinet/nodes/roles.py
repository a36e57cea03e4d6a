"""Building each role's node: which messages it handles and with which service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock
from jukinet.domain import reference
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import (
    NATIONAL_NODE,
    PREFECTURE_NODE,
    MessageType,
    lg_code_of,
    municipal_node,
)
from jukinet.net.pki import NodeCredentials, TrustStore
from jukinet.net.receiver import Handler
from jukinet.net.transport import Transport
from jukinet.nodes.node import Node
from jukinet.services.municipal.card_move import CardMoveService
from jukinet.services.municipal.cards import ResidentCardService
from jukinet.services.municipal.certificates import WideAreaCertificates
from jukinet.services.municipal.foreign_residents import ForeignResidentCodes
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.services.national import identity as national_identity
from jukinet.services.national.batch.service import BatchProvisionService
from jukinet.services.national.monitoring import on_heartbeat
from jukinet.services.national.pki import DocumentDistribution
from jukinet.services.national.pools import PoolService
from jukinet.services.national.provision import ProvisionService
from jukinet.services.national.provision_history import (
    NationalProvisionLog,
    ProvisionHistoryAnswers,
)
from jukinet.services.national.provision_log import ProvisionLog
from jukinet.services.prefectural.identity import PrefecturalIdentityService
from jukinet.services.prefectural.provision_history import NationalCenterProvisions
from jukinet.store.db import write_transaction


def _receive_documents(node: Node) -> None:
    """Every node below the national center takes the CRLs and policies it sends."""
    documents = node.receiver.documents
    node.handlers[MessageType.CRL_UPDATE] = documents.on_crl_update
    node.handlers[MessageType.POLICY_UPDATE] = documents.on_policy_update


def distribution(national: Node) -> DocumentDistribution:
    """The national center's CRL and policy distribution, with its current credentials."""
    return DocumentDistribution(
        national.credentials[NATIONAL_NODE], national.outbox, national.receiver.documents
    )


def replace_credentials(node: Node, creds: NodeCredentials, holders: Iterable[Any] = ()) -> None:
    """Re-key a running node without downtime: from now on it signs with ``creds`` (a renewed
    certificate, perhaps of a new algorithm). Services that sign for the node hold its
    credentials as ``.credentials``: the ones behind its handlers and ``holders`` are switched.
    Messages already sealed keep their old signature, which verifies until the old
    certificate expires, is revoked, or its algorithm is retired."""
    if creds.node_id not in node.credentials:
        raise KeyError(f"{node.name} does not host {creds.node_id}")
    node.credentials[creds.node_id] = creds
    services = [*holders, *(getattr(h, "__self__", None) for h in node.handlers.values())]
    for service in services:
        held = getattr(service, "credentials", None)
        if isinstance(held, NodeCredentials) and held.node_id == creds.node_id:
            service.credentials = creds


def build_national(
    engine: Engine,
    creds: NodeCredentials,
    trust: TrustStore,
    clock: Clock,
    transport: Transport,
    *,
    files: Path,
) -> Node:
    """The national center; ``files`` holds what stays outside its database (batch request
    and result files, provision-log segments, registry snapshots)."""
    node = Node("national", engine, clock, {NATIONAL_NODE: creds}, transport, {}, trust)
    node.files = files
    ProvisionService(engine, clock).seed()  # recipients and affairs of the annex (idempotent)
    node.loops.append(BatchProvisionService(engine, clock, files, node.audit).loop)
    provision_log = ProvisionLog(engine, files, clock, node.audit)
    provision_log.ensure_partitions()  # this month's and the next ones, before any append
    node.upkeep.append(provision_log.upkeep)  # partitions ahead, purge, seals, old files
    node.loops.append(provision_log.loop)  # closed months compacted
    pools = PoolService(creds, node.outbox)
    history = ProvisionHistoryAnswers(
        NationalProvisionLog(engine, files, clock), creds, node.outbox, node.audit
    )
    node.handlers.update(
        {
            MessageType.IDENTITY_UPDATE: national_identity.on_identity_update,
            MessageType.POOL_REQUEST: pools.on_pool_request,
            MessageType.HEARTBEAT: on_heartbeat,
            MessageType.PROVISION_HISTORY_REQUEST: history.on_provision_history_request,
        }
    )
    return node


def build_prefectural(
    engine: Engine, creds: NodeCredentials, trust: TrustStore, clock: Clock, transport: Transport
) -> Node:
    node = Node("prefecture", engine, clock, {PREFECTURE_NODE: creds}, transport, {}, trust)
    service = PrefecturalIdentityService(creds, node.outbox)
    node.handlers[MessageType.IDENTITY_UPDATE] = service.on_identity_update
    node.handlers[MessageType.PROVISION_HISTORY] = national_center_of(node).on_provision_history
    _receive_documents(node)
    return node


def national_center_of(prefecture: Node) -> NationalCenterProvisions:
    """The prefectural center's way to the national center's provision log (its disclosure
    desks ask through it): the node's own outbox and live credentials."""
    return NationalCenterProvisions(prefecture.credentials, prefecture.outbox, prefecture.clock)


@dataclass
class MunicipalNode:
    """A municipal host: one database, one or more municipalities, each with its own key."""

    node: Node
    registers: dict[str, MunicipalRegister]
    links: dict[str, MunicipalLink]
    cards: dict[str, ResidentCardService] = field(default_factory=dict)
    card_moves: dict[str, CardMoveService] = field(default_factory=dict)
    certificates: dict[str, WideAreaCertificates] = field(default_factory=dict)
    foreign_residents: dict[str, ForeignResidentCodes] = field(default_factory=dict)

    def register(self, lg_code: str) -> MunicipalRegister:
        return self.registers[lg_code]

    def rekey(self, creds: NodeCredentials) -> None:
        """Switch one hosted municipality to renewed credentials (see ``replace_credentials``)."""
        replace_credentials(self.node, creds, self.links.values())

    def request_initial_pools(self) -> None:
        """Ask for codes for every hosted municipality whose pool is low."""
        now = self.node.clock.now()
        with write_transaction(self.node.engine) as conn:
            for link in self.links.values():
                link.request_pool_if_low(conn, now)


def build_municipal(
    name: str,
    engine: Engine,
    credentials: Iterable[NodeCredentials],
    *,
    trust: TrustStore,
    clock: Clock,
    transport: Transport,
) -> MunicipalNode:
    """A host for the municipalities whose credentials are given (one or several)."""
    creds = {c.node_id: c for c in credentials}
    codes = [reference.municipality(lg_code_of(node_id)).lg_code for node_id in creds]
    node = Node(name, engine, clock, creds, transport, {}, trust)
    links = {c: MunicipalLink(creds[municipal_node(c)], node.outbox, clock) for c in codes}
    registers = {c: MunicipalRegister(engine, c, clock, notifier=links[c]) for c in codes}

    def on_pool_allocation(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        links[lg_code_of(opened.envelope.receiver)].on_pool_allocation(conn, opened, now)

    def on_move_in_notice(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        lg_code = lg_code_of(opened.envelope.receiver)
        links[lg_code].on_move_in_notice(registers[lg_code], conn, opened, now)

    cards = {c: ResidentCardService(engine, c, clock) for c in codes}
    card_moves = {c: CardMoveService(registers[c], links[c]) for c in codes}

    def on_move_out_certificate_request(
        conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        card_moves[lg_code_of(opened.envelope.receiver)].on_certificate_request(conn, opened, now)

    def on_move_out_certificate(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        card_moves[lg_code_of(opened.envelope.receiver)].on_certificate(conn, opened, now)

    certificates = {c: WideAreaCertificates(registers[c], links[c], node.audit) for c in codes}
    foreign_residents = {c: ForeignResidentCodes(registers[c], links[c]) for c in codes}

    def on_certificate_items_request(
        conn: Connection, opened: OpenedMessage, now: datetime
    ) -> None:
        lg_code = lg_code_of(opened.envelope.receiver)
        certificates[lg_code].on_certificate_items_request(conn, opened, now)

    def on_certificate_items(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        certificates[lg_code_of(opened.envelope.receiver)].on_certificate_items(conn, opened, now)

    handlers: dict[str, Handler] = {
        MessageType.CERTIFICATE_ITEMS_REQUEST: on_certificate_items_request,
        MessageType.CERTIFICATE_ITEMS: on_certificate_items,
        MessageType.POOL_ALLOCATION: on_pool_allocation,
        MessageType.MOVE_IN_NOTICE: on_move_in_notice,
        MessageType.MOVE_OUT_CERTIFICATE_REQUEST: on_move_out_certificate_request,
        MessageType.MOVE_OUT_CERTIFICATE: on_move_out_certificate,
    }
    node.handlers.update(handlers)
    _receive_documents(node)
    return MunicipalNode(
        node,
        registers,
        links,
        cards,
        card_moves,
        certificates=certificates,
        foreign_residents=foreign_residents,
    )

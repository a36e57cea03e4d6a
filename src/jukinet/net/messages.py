"""Message types, node roles, node ids, and who may send which type to whom."""

from __future__ import annotations

from enum import StrEnum

from jukinet.domain.codes import validate_lg_code


class Role(StrEnum):
    NATIONAL = "national"
    PREFECTURE = "prefecture"
    MUNICIPALITY = "municipality"


class MessageType(StrEnum):
    IDENTITY_UPDATE = "identity_update"
    POOL_REQUEST = "pool_request"
    POOL_ALLOCATION = "pool_allocation"
    MOVE_IN_NOTICE = "move_in_notice"
    MOVE_OUT_CERTIFICATE_REQUEST = "move_out_certificate_request"  # card-based move: ask former
    MOVE_OUT_CERTIFICATE = "move_out_certificate"  # card-based move: the former one's answer
    HEARTBEAT = "heartbeat"
    CRL_UPDATE = "crl_update"  # the newest CRL of an issuing CA
    POLICY_UPDATE = "policy_update"  # the newest signed crypto policy
    CERTIFICATE_ITEMS_REQUEST = "certificate_items_request"  # wide-area certificate: ask home
    CERTIFICATE_ITEMS = "certificate_items"  # wide-area certificate: the home's answer
    PROVISION_HISTORY_REQUEST = "provision_history_request"  # disclosure: a prefecture asks
    PROVISION_HISTORY = "provision_history"  # disclosure: the national center's answer


UNSEQUENCED = frozenset({MessageType.HEARTBEAT})
"""Best-effort types sent directly (seq 0), never through the outbox: a heartbeat that
waited in a queue would report a stale state."""

NATIONAL_NODE = "national"
PREFECTURE_NODE = "prefecture"


def municipal_node(lg_code: str) -> str:
    """Node id of a municipality's CS: ``municipality/131016``."""
    return f"{Role.MUNICIPALITY.value}/{validate_lg_code(lg_code)}"


def role_of(node_id: str) -> Role:
    return Role(node_id.split("/", 1)[0])


def lg_code_of(node_id: str) -> str:
    """The lg code of a municipal node id."""
    role, _, lg_code = node_id.partition("/")
    if role != Role.MUNICIPALITY.value or not lg_code:
        raise ValueError(f"{node_id} is not a municipal node")
    return lg_code


ALLOWED: frozenset[tuple[MessageType, Role, Role]] = frozenset(
    {
        (MessageType.IDENTITY_UPDATE, Role.MUNICIPALITY, Role.PREFECTURE),
        (MessageType.IDENTITY_UPDATE, Role.PREFECTURE, Role.NATIONAL),
        (MessageType.POOL_REQUEST, Role.MUNICIPALITY, Role.NATIONAL),
        (MessageType.POOL_ALLOCATION, Role.NATIONAL, Role.MUNICIPALITY),
        (MessageType.MOVE_IN_NOTICE, Role.MUNICIPALITY, Role.MUNICIPALITY),
        (MessageType.MOVE_OUT_CERTIFICATE_REQUEST, Role.MUNICIPALITY, Role.MUNICIPALITY),
        (MessageType.MOVE_OUT_CERTIFICATE, Role.MUNICIPALITY, Role.MUNICIPALITY),
        (MessageType.HEARTBEAT, Role.MUNICIPALITY, Role.NATIONAL),
        (MessageType.HEARTBEAT, Role.PREFECTURE, Role.NATIONAL),
        (MessageType.CRL_UPDATE, Role.NATIONAL, Role.PREFECTURE),
        (MessageType.CRL_UPDATE, Role.NATIONAL, Role.MUNICIPALITY),
        (MessageType.POLICY_UPDATE, Role.NATIONAL, Role.PREFECTURE),
        (MessageType.POLICY_UPDATE, Role.NATIONAL, Role.MUNICIPALITY),
        (MessageType.CERTIFICATE_ITEMS_REQUEST, Role.MUNICIPALITY, Role.MUNICIPALITY),
        (MessageType.CERTIFICATE_ITEMS, Role.MUNICIPALITY, Role.MUNICIPALITY),
        (MessageType.PROVISION_HISTORY_REQUEST, Role.PREFECTURE, Role.NATIONAL),
        (MessageType.PROVISION_HISTORY, Role.NATIONAL, Role.PREFECTURE),
    }
)
"""(type, sender role, receiver role) triples the network accepts; anything else is refused."""


def may_send(message_type: str, sender: Role, receiver: Role) -> bool:
    try:
        kind = MessageType(message_type)
    except ValueError:
        return False
    return (kind, sender, receiver) in ALLOWED

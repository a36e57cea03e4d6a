"""24-hour monitoring: heartbeats from every node and the network status they add up to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from jukinet.domain.errors import RuleViolation
from jukinet.domain.storable import storable_int, storable_text
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import NATIONAL_NODE, Role
from jukinet.store.db import read_transaction
from jukinet.store.spine import insert_ignoring_conflict, outbox_backlog
from jukinet.store.tables import node_status

MAX_BACKLOG = 2**31 - 1
"""The largest backlog ``node_status`` holds (INTEGER)."""


def on_heartbeat(conn: Connection, opened: OpenedMessage, now: datetime) -> None:
    body = opened.envelope.body
    values = {
        "role": opened.signer.role,
        "last_seen": now,
        "backlog": storable_int(body.get("backlog", 0), "backlog", high=MAX_BACKLOG),
        "oldest_pending_at": _moment(body.get("oldest_pending_at"), "oldest_pending_at"),
        "last_error": _text(body.get("last_error"), "last_error"),
    }
    node_id = opened.envelope.sender
    insert_ignoring_conflict(conn, node_status, {"node_id": node_id, **values})
    conn.execute(update(node_status).where(node_status.c.node_id == node_id).values(values))


def _moment(value: object, field: str) -> datetime | None:
    """An ISO time with its timezone (times are stored in UTC), or None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise RuleViolation(field, "time", "must be an ISO time with its timezone, or null")
    return moment


def _text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RuleViolation(field, "type", "must be text, or null")
    return storable_text(value, field)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    node_id: str
    role: str
    last_seen: datetime
    backlog: int
    oldest_pending_at: datetime | None
    last_error: str | None

    def oldest_pending_age(self, now: datetime) -> float | None:
        if self.oldest_pending_at is None:
            return None
        return (now - self.oldest_pending_at).total_seconds()


def network_status(conn: Connection) -> list[NodeStatus]:
    rows = conn.execute(select(node_status).order_by(node_status.c.node_id))
    return [
        NodeStatus(r.node_id, r.role, r.last_seen, r.backlog, r.oldest_pending_at, r.last_error)
        for r in rows
    ]


_ROLE_ORDER = {Role.NATIONAL.value: 0, Role.PREFECTURE.value: 1, Role.MUNICIPALITY.value: 2}


def read_network_status(engine: Engine, now: datetime) -> list[NodeStatus]:
    """Every node's last heartbeat, plus the national center's own outbox: it sends no
    heartbeat to itself, yet its pool allocations can pile up as well."""
    with read_transaction(engine) as conn:
        reported = network_status(conn)
        own = outbox_backlog(conn, [NATIONAL_NODE])[NATIONAL_NODE]
    national = NodeStatus(
        NATIONAL_NODE, Role.NATIONAL.value, now, own.pending, own.oldest_created_at, own.last_error
    )
    nodes = [national, *(s for s in reported if s.node_id != NATIONAL_NODE)]
    return sorted(nodes, key=lambda s: (_ROLE_ORDER.get(s.role, 9), s.node_id))

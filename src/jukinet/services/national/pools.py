"""Resident-code pools: the national center designates fresh random codes to municipalities."""

from __future__ import annotations

import random
from datetime import datetime

from sqlalchemy import Connection

from jukinet.domain.codes import draw_resident_codes, validate_lg_code
from jukinet.domain.errors import RuleViolation
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import MessageType, lg_code_of, municipal_node
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.store.pools import designate_codes, taken_codes

MAX_POOL_REQUEST = 100_000


class PoolService:
    def __init__(
        self, credentials: NodeCredentials, outbox: Outbox, rng: random.Random | None = None
    ) -> None:
        self.credentials = credentials
        self.outbox = outbox
        self._rng = rng or random.SystemRandom()

    def allocate(self, conn: Connection, lg_code: str, count: int, now: datetime) -> list[str]:
        """Draw ``count`` codes never designated or seen before and designate them."""
        validate_lg_code(lg_code)
        if not 1 <= count <= MAX_POOL_REQUEST:
            raise RuleViolation("count", "range", f"between 1 and {MAX_POOL_REQUEST}")
        codes: list[str] = []
        while len(codes) < count:
            candidates = set(draw_resident_codes(self._rng, count - len(codes), codes))
            codes.extend(sorted(candidates - taken_codes(conn, candidates)))
        designate_codes(conn, lg_code, codes, now)
        return codes

    def on_pool_request(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        env = opened.envelope
        lg_code = str(env.body.get("lg_code"))
        if lg_code != lg_code_of(env.sender):
            raise RuleViolation("lg_code", "sender_mismatch", "a pool only for the requester")
        count = env.body.get("count")
        if type(count) is not int:  # not a boolean, a float or text that looks like one
            raise RuleViolation("count", "type", "a whole number of codes")
        codes = self.allocate(conn, lg_code, count, now)
        self.outbox.enqueue(
            conn,
            self.credentials,
            receiver=municipal_node(lg_code),
            message_type=MessageType.POOL_ALLOCATION,
            body={"lg_code": lg_code, "codes": codes},
            now=now,
        )

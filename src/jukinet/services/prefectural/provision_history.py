"""A prefecture's way to the national center's provision log, for its disclosure desk.

The prefectural center does not hold the provision log. When its desk receives a disclosure
request for a person it holds, it asks the national center in the same transaction (a signed
``provision_history_request`` through the outbox: retried until acknowledged, never lost). The
answer (``provision_history``) is kept on the request when it arrives. Deciding to disclose
uses that answer; until it is there the decision is refused as ``provisions_pending`` with
where the question stands (delivered and waiting, or not delivered yet after N attempts and
why), so a clerk can see what holds the request up.

The service holds the node's live credentials mapping, not one certificate: a re-keyed node
asks with its new certificate at once, wherever this service was built (a message handler,
the HTTP layer, a CLI command).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import structlog
from sqlalchemy import Connection

from jukinet.clock import Clock
from jukinet.domain.disclosure import DisclosedProvision, Office
from jukinet.domain.errors import RuleViolation
from jukinet.domain.provision_history import (
    NATIONAL_CENTER_JA,
    check_answer,
    history_request,
    parse_answer,
)
from jukinet.net.envelope import OpenedMessage
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE, MessageType
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.store import disclosure as store
from jukinet.store.spine import Delivery, delivery_of
from jukinet.store.tenancy import tenant

log = structlog.get_logger(__name__)


class NationalCenterProvisions:
    """Asks the national center for a person's provisions; keeps its answers."""

    def __init__(
        self, credentials: Mapping[str, NodeCredentials], outbox: Outbox, clock: Clock
    ) -> None:
        self.credentials = credentials  # the node's own mapping: re-keying shows at once
        self.outbox = outbox
        self.clock = clock

    @property
    def held_by(self) -> str:
        return NATIONAL_CENTER_JA

    def ask(
        self, conn: Connection, office: Office, request_id: int, resident_codes: Sequence[str]
    ) -> None:
        """Queue the question for request ``request_id``, in the caller's transaction (a
        question asked again replaces the earlier one: its late answer is ignored)."""
        question = history_request(office, resident_codes)
        envelope = self.outbox.enqueue(
            conn,
            self.credentials[PREFECTURE_NODE],
            receiver=NATIONAL_NODE,
            message_type=MessageType.PROVISION_HISTORY_REQUEST,
            body=question.to_body(),
            now=self.clock.now(),
        )
        store.record_provisions_asked(
            conn, office.code, request_id, question.reference, envelope.id
        )

    def read(
        self,
        conn: Connection,
        request: store.StoredRequest,
        resident_codes: Sequence[str] = (),
        since: str = "",
    ) -> tuple[tuple[DisclosedProvision, ...], date]:
        """The provisions the national center answered with (it followed the codes and kept
        to its retention), and the day it read its log."""
        asked = request.provisions_asked
        if asked is None:
            raise RuleViolation(
                "decision",
                "provisions_not_asked",
                "the national center was never asked for this person's provisions: ask it "
                "(`jukinet disclosure ask-provisions`), then decide",
            )
        if asked.answer is None:
            raise RuleViolation(
                "decision",
                "provisions_pending",
                "the national center has not answered yet: "
                + waiting(delivery_of(conn, asked.message_id)),
            )
        return asked.answer.provisions, asked.answer.as_of

    def on_provision_history(self, conn: Connection, opened: OpenedMessage, now: datetime) -> None:
        """Keep the national center's answer on the request that asked (the first answer; a
        repeat or an answer to a question asked again since changes nothing)."""
        answer = parse_answer(opened.envelope.body)
        office = answer.office
        with tenant(conn, pref_code=office.pref_code, office=office.code):
            request = store.asked_with(conn, office.code, answer.reference)
            if request is None:
                log.info(
                    "provision_history_superseded", office=office.code, reference=answer.reference
                )
                return
            if request.resident_code is None:
                raise RuleViolation("reference", "no_person", "the request names no held record")
            check_answer(answer, [request.resident_code])
            store.record_provisions_answer(conn, office.code, answer.reference, answer, now)


def waiting(delivery: Delivery | None) -> str:
    """Where the question stands, in one sentence."""
    if delivery is None or delivery.delivered_at is None:
        attempts = 0 if delivery is None else delivery.attempts
        error = "" if delivery is None or not delivery.last_error else delivery.last_error
        return (
            f"the question has not reached the national center yet ({attempts} failed "
            f"attempt(s)" + (f", last error: {error}" if error else "") + "); it is retried "
            "automatically"
        )
    if delivery.outcome == "rejected":
        return "the national center quarantined the question: ask again"
    return "the question was delivered; its answer has not arrived yet"

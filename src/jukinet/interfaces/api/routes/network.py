"""The node-to-node endpoint: batches of signed messages in, acknowledgements out.

The caller's identity comes from each message's signature, never from the connection
(uvicorn does not expose the TLS client certificate; mutual TLS only keeps strangers out).
"""

from __future__ import annotations

from fastapi import APIRouter

from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import AckBatch, AckOut, MessageBatch
from jukinet.net.envelope import peek
from jukinet.net.transport import Ack, AckStatus

router = APIRouter(prefix="/network", tags=["network"])


@router.post("/messages", responses=problem_responses(422))
def receive_messages(services: ServicesDep, batch: MessageBatch) -> AckBatch:
    """Hand each message to the inbox of the node it is addressed to; acknowledge each."""
    wires = [m.encode() for m in batch.messages]
    by_receiver: dict[str, list[int]] = {}
    acks: list[Ack | None] = [None] * len(wires)
    for i, wire in enumerate(wires):
        receiver = peek(wire).get("receiver")
        if isinstance(receiver, str) and receiver in services.receivers:
            by_receiver.setdefault(receiver, []).append(i)
        else:
            acks[i] = Ack(peek(wire).get("id"), AckStatus.REFUSED, f"{receiver} not hosted here")
    for receiver, indexes in by_receiver.items():
        results = services.receivers[receiver].receive([wires[i] for i in indexes])
        for i, ack in zip(indexes, results, strict=True):
            acks[i] = ack
    return AckBatch(
        acks=[
            AckOut(
                message_id=a.message_id,
                status=a.status.value,
                reason=a.reason,
                expected_seq=a.expected_seq,
            )
            for a in acks
            if a is not None
        ]
    )

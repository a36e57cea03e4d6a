"""Signed envelopes: what crosses the network between nodes.

The signature covers the exact payload bytes that are sent; the receiver verifies those bytes
and only then parses them, so nothing is ever re-serialised before verification. Decoding is
lenient base64 (``a2b_base64``): whatever bytes come out are what the signature must match,
so a strict alphabet check would add cost and no safety. Parsing uses orjson (sealing keeps
the standard library's canonical JSON): on the receiving hot path the two JSON parses were
half of the envelope's cost next to a fast RSA-2048 verify. The wire form
carries the algorithm identifier, the signer's certificate fingerprint and the certificate
itself (verified against the network CA; its chain check is cached by fingerprint).
"""

from __future__ import annotations

import base64
import json
import uuid
from binascii import a2b_base64
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from jukinet.domain.storable import BIGINT_MAX
from jukinet.net.pki import NodeCredentials, NodeIdentity, TrustStore, fingerprint


class EnvelopeError(ValueError):
    """The bytes received are not a well-formed signed envelope (or fail verification)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: who sends what to whom, in which place of the sender's sequence."""

    id: str
    type: str
    sender: str
    receiver: str
    seq: int
    timestamp: datetime
    body: dict[str, Any]

    def payload(self) -> bytes:
        """Canonical bytes (sorted keys, no spaces, UTF-8) — what is signed and sent. No NaN
        or infinity: they are not JSON, and a receiver would refuse the message on every
        retry, blocking its channel."""
        return json.dumps(
            {
                "id": self.id,
                "type": self.type,
                "sender": self.sender,
                "receiver": self.receiver,
                "seq": self.seq,
                "timestamp": self.timestamp.isoformat(),
                "body": self.body,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode()


def new_message_id() -> str:
    return str(uuid.uuid4())


def seal(credentials: NodeCredentials, envelope: Envelope) -> bytes:
    """Sign the envelope's payload and return the wire bytes (JSON)."""
    if envelope.sender != credentials.node_id:
        raise EnvelopeError(f"{credentials.node_id} cannot send as {envelope.sender}")
    payload = envelope.payload()
    return json.dumps(
        {
            "payload": _b64(payload),
            "alg": str(credentials.algorithm),
            "signer": credentials.fingerprint,
            "cert": _b64(credentials.certificate_der),
            "sig": _b64(credentials.sign(payload)),
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    envelope: Envelope
    signer: NodeIdentity


_PEEKED_TEXT = {"id": 36, "type": 40, "sender": 40, "receiver": 40}
"""The text fields ``peek`` keeps, each at most as long as a real one (and its column) is."""


def peek(wire: bytes) -> dict[str, Any]:
    """Unverified header fields, only for logging a message that fails verification: those
    shaped as a real header's are (text that fits, a sequence number). A forged field of any
    other shape is left out, so recording the refusal cannot fail on it."""
    try:
        outer = json.loads(wire)
        inner = json.loads(base64.b64decode(outer["payload"]))
    except (ValueError, KeyError, TypeError, RecursionError):
        return {}
    if not isinstance(inner, dict):
        return {}
    header: dict[str, Any] = {
        k: v
        for k, longest in _PEEKED_TEXT.items()
        if isinstance(v := inner.get(k), str) and len(v) <= longest and "\x00" not in v
    }
    seq = inner.get("seq")
    if type(seq) is int and 0 <= seq <= BIGINT_MAX:  # an int, not a bool; fits the column
        header["seq"] = seq
    return header


def open_message(trust: TrustStore, wire: bytes, at: datetime) -> OpenedMessage:
    """Verify the signature over the exact payload bytes, then parse them.

    Raises ``EnvelopeError`` naming what failed: malformed wire, unknown or mismatching
    signer, bad signature, or a payload whose sender is not the signer.
    """
    try:
        outer = orjson.loads(wire)
        payload = a2b_base64(outer["payload"])
        cert_der, cert_fingerprint = _certificate(outer["cert"])
        signature = a2b_base64(outer["sig"])
        algorithm = outer["alg"]
        claimed_signer = outer["signer"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"malformed wire message: {exc}") from exc
    if cert_fingerprint != claimed_signer:
        raise EnvelopeError("signer fingerprint does not match the certificate")
    try:
        signer = trust.verify_message(cert_der, algorithm, payload, signature, at)
    except Exception as exc:  # the PKI names the failure; keep its words
        raise EnvelopeError(f"signature verification failed: {exc}") from exc
    try:
        data = orjson.loads(payload)
        fields = (data["id"], data["type"], data["sender"], data["receiver"])
        seq, body = data["seq"], data["body"]
        if not (all(type(f) is str for f in fields) and type(seq) is int and type(body) is dict):
            raise TypeError("id, type, sender, receiver must be text, seq a number, body an object")
        envelope = Envelope(*fields, seq, datetime.fromisoformat(data["timestamp"]), body)
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"malformed payload: {exc}") from exc
    if envelope.sender != signer.node_id:
        raise EnvelopeError(f"payload claims sender {envelope.sender}, signed by {signer.node_id}")
    return OpenedMessage(envelope, signer)


@lru_cache(maxsize=4096)
def _certificate(text: str) -> tuple[bytes, str]:
    """A signer's certificate (DER) and its SHA-256 fingerprint, decoded once per signer:
    every message of a node carries the same certificate text."""
    der = a2b_base64(text)
    return der, fingerprint(der)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

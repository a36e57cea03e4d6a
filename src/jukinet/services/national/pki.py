"""The national center distributes the network's CRLs and crypto policy to every node.

Both travel as ordinary sequenced messages through the national center's outbox (signed,
retried until acknowledged, so a node that is down gets them when it is back), and are first
stored and enforced at the national center itself.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine

from jukinet.net.messages import NATIONAL_NODE, MessageType
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NodeCredentials
from jukinet.net.policy import (
    DEFAULT_POLICY,
    CryptoPolicy,
    NetworkDocuments,
    policy_of_document,
    sign_policy,
)
from jukinet.store.db import read_transaction
from jukinet.store.documents import POLICY_KIND, newest_document


class DocumentDistribution:
    """Publishes CRLs and signed policies: stored here, then sent to each receiver."""

    def __init__(
        self, credentials: NodeCredentials, outbox: Outbox, documents: NetworkDocuments
    ) -> None:
        if credentials.node_id != NATIONAL_NODE:
            raise ValueError("only the national center distributes CRLs and policies")
        self.credentials = credentials
        self.outbox = outbox
        self.documents = documents

    def publish_crl(
        self,
        conn: Connection,
        crl: x509.CertificateRevocationList,
        purpose: str,
        receivers: Iterable[str],
        now: datetime,
    ) -> int:
        """Enforce the CRL here and send it to every receiver; returns messages queued."""
        der = crl.public_bytes(serialization.Encoding.DER)
        self.documents.accept_crl(conn, der, purpose, now)
        body = {"purpose": purpose, "crl": base64.b64encode(der).decode()}
        return self._send(conn, MessageType.CRL_UPDATE, body, receivers, now)

    def publish_policy(
        self, conn: Connection, policy: CryptoPolicy, receivers: Iterable[str], now: datetime
    ) -> int:
        """Sign the policy, enforce it here and send it to every receiver."""
        if policy.version <= self.documents.policy.version:
            raise ValueError(
                f"policy version {policy.version} is not newer than "
                f"v{self.documents.policy.version} in force"
            )
        document = sign_policy(self.credentials, policy)
        self.documents.accept_policy(conn, document, now)
        body = {"version": policy.version, "document": document.decode()}
        return self._send(conn, MessageType.POLICY_UPDATE, body, receivers, now)

    def _send(
        self,
        conn: Connection,
        message_type: MessageType,
        body: dict[str, Any],
        receivers: Iterable[str],
        now: datetime,
    ) -> int:
        sent = 0
        for receiver in dict.fromkeys(receivers):
            if receiver == NATIONAL_NODE:
                continue
            self.outbox.enqueue(
                conn,
                self.credentials,
                receiver=receiver,
                message_type=message_type,
                body=body,
                now=now,
            )
            sent += 1
        return sent


def current_policy(engine: Engine) -> CryptoPolicy:
    """The policy a node's database holds (the default for a fresh network)."""
    with read_transaction(engine) as conn:
        document = newest_document(conn, POLICY_KIND)
    if document is None:
        return DEFAULT_POLICY
    return policy_of_document(document.content)

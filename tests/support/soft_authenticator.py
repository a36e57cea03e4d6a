"""A software WebAuthn authenticator (ES256, attestation "none") whose flags the test chooses.

Browsers refuse a ceremony without user verification themselves, so the server's own check is
tested with this: ``uv=False`` produces a well-signed response whose UV flag is clear, and
``sign_count`` lets a test replay an old counter (a cloned authenticator).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    rp_id: str = "localhost"
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    user_handle: bytes | None = None

    def _flags(self, *, up: bool, uv: bool) -> int:
        return (FLAG_UP if up else 0) | (FLAG_UV if uv else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def create(
        self, options_json: str, *, uv: bool = True, up: bool = True, origin: str | None = None
    ) -> str:
        """The response to ``navigator.credentials.create(options)``, as JSON text."""
        options: dict[str, Any] = json.loads(options_json)
        self.user_handle = unb64url(options["user"]["id"])
        rp_id = options["rp"].get("id", self.rp_id)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(up=up, uv=uv) | FLAG_AT])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                },
            }
        )

    def get(
        self,
        options_json: str,
        *,
        uv: bool = True,
        up: bool = True,
        sign_count: int | None = None,
        origin: str | None = None,
    ) -> str:
        """The response to ``navigator.credentials.get(options)``; the counter advances by one
        unless ``sign_count`` forces a value."""
        options: dict[str, Any] = json.loads(options_json)
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        rp_id = options.get("rpId", self.rp_id)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(up=up, uv=uv)])
            + sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": b64url(self.user_handle or b""),
                },
            }
        )

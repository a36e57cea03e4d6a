"""The one place that talks to py_webauthn: option generation and the two verify calls.

User verification (a biometric, or a PIN) is **required** everywhere: py_webauthn's default is
"preferred", so the options ask for ``REQUIRED`` and both verify calls pass
``require_user_verification=True``. Nothing else in the project imports ``webauthn``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)


class CeremonyFailed(Exception):
    """The authenticator's response was refused; ``reason`` says why (py_webauthn's words)."""

    def __init__(self, reason: str, *, user_not_verified: bool = False, sign_count: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.user_not_verified = user_not_verified
        self.sign_count = sign_count


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Options:
    """Options for ``navigator.credentials.*`` (JSON text) and the challenge they carry."""

    challenge: bytes
    json: str


@dataclass(frozen=True, slots=True)
class RegisteredCredential:
    credential_id: bytes
    public_key: bytes
    sign_count: int


def _failure(exc: Exception) -> CeremonyFailed:
    reason = str(exc)
    return CeremonyFailed(
        reason,
        user_not_verified="User verification is required" in reason,
        sign_count="sign count" in reason,
    )


class PyWebAuthn:
    """WebAuthn ceremonies for one relying party, user verification required."""

    def __init__(self, rp: RelyingParty) -> None:
        self.rp = rp

    def registration_options(
        self, *, user_handle: bytes, user_name: str, display_name: str, exclude: list[bytes]
    ) -> Options:
        options = generate_registration_options(
            rp_id=self.rp.id,
            rp_name=self.rp.name,
            user_id=user_handle,
            user_name=user_name,
            user_display_name=display_name,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude],
        )
        return Options(options.challenge, options_to_json(options))

    def verify_registration(self, credential_json: str, challenge: bytes) -> RegisteredCredential:
        try:
            verified = verify_registration_response(
                credential=credential_json,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=list(self.rp.origins),
                require_user_verification=True,
            )
        except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
            raise _failure(exc) from exc
        return RegisteredCredential(
            verified.credential_id, verified.credential_public_key, verified.sign_count
        )

    def authentication_options(self, allow: list[bytes]) -> Options:
        options = generate_authentication_options(
            rp_id=self.rp.id,
            allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return Options(options.challenge, options_to_json(options))

    def verify_authentication(
        self, credential_json: str, challenge: bytes, public_key: bytes, sign_count: int
    ) -> int:
        """Verify an assertion; returns the authenticator's new sign count."""
        try:
            verified = verify_authentication_response(
                credential=credential_json,
                expected_challenge=challenge,
                expected_rp_id=self.rp.id,
                expected_origin=list(self.rp.origins),
                credential_public_key=public_key,
                credential_current_sign_count=sign_count,
                require_user_verification=True,
            )
        except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
            raise _failure(exc) from exc
        return verified.new_sign_count


def credential_id_of(credential_json: str) -> bytes:
    """The raw credential id a response names (to find the stored public key)."""
    try:
        data: Any = json.loads(credential_json)
        return base64url_to_bytes(data["rawId"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CeremonyFailed(f"malformed credential: {exc}") from exc

"""The recipient behind a request to the provision API: ``RecipientDep``.

A signed request (``Jukinet-Signature``, ``Jukinet-Certificate``, ``Content-Digest``: see
``net/request_signing.py``) is verified over the method, the request target exactly as
received (raw path and query) and the body's digest; without a signature, the transitional
bearer key (``Authorization: Bearer jkr_…``) is accepted. Refusals are ``AuthRefused``:
problem+json 401 naming the rule, 403 ``recipient_suspended``. The headers are declared here
so OpenAPI shows them on every recipient route.

``StreamingRecipientDep`` leaves the body unread (batch files of gigabytes): the route hashes
it while streaming and calls :func:`confirm_body`. A route that authenticates in the same
transaction as its own writes (immediate provision) reads the headers with
:func:`credentials_of`, checks them with :func:`attempt`, and finishes in
``services/national/immediate.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.net.request_signing import request_target
from jukinet.services.national.recipient_auth import (
    Attempt,
    AuthenticatedRecipient,
    Credential,
    RecipientAuthService,
    SignedHeaders,
)

__all__ = [
    "CREDENTIAL_HEADERS",
    "AuthenticatedRecipient",
    "RecipientCredentials",
    "RecipientDep",
    "StreamingRecipientDep",
    "attempt",
    "auth_service",
    "confirm_body",
    "credentials_of",
]

_build_lock = threading.Lock()


def auth_service(request: Request, services: AppServices) -> RecipientAuthService:
    """One service per application: it keeps the per-process state (documents, purge)."""
    service: RecipientAuthService | None = getattr(request.app.state, "recipient_auth", None)
    if service is not None:
        return service
    if services.national_engine is None:
        raise RuleViolation("node", "not_hosted", "no national center in this process")
    with _build_lock:
        service = getattr(request.app.state, "recipient_auth", None)
        if service is None:
            service = RecipientAuthService(
                services.national_engine, services.clock, services.national_trust
            )
            request.app.state.recipient_auth = service
    return service


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _target(request: Request) -> str:
    """The request target as the client sent it: raw (percent-encoded) path and query."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    return request_target(raw.decode("latin-1"), query.decode("latin-1"))


@dataclass(frozen=True, slots=True)
class RecipientCredentials:
    """The credential headers of a request, not yet checked."""

    signature: str | None
    certificate: str | None
    digest: str | None
    authorization: str | None


def attempt(
    service: RecipientAuthService,
    request: Request,
    credentials: RecipientCredentials,
    body: bytes | None,
) -> Attempt:
    """Check what needs no database (a signature, or hash a bearer key): CPU only, so it runs
    on the event loop; the route finishes it in its own transaction."""
    target = _target(request)
    if credentials.signature is not None:
        headers = SignedHeaders(credentials.signature, credentials.certificate, credentials.digest)
        return service.attempt_signed(request.method, target, headers, body)
    return service.attempt_bearer(_bearer(credentials.authorization), request.method, target)


async def _authenticate(
    request: Request,
    services: AppServices,
    signature: str | None,
    certificate: str | None,
    digest: str | None,
    authorization: str | None,
    *,
    read_body: bool,
) -> AuthenticatedRecipient:
    service = auth_service(request, services)
    target = _target(request)
    if signature is not None:
        headers = SignedHeaders(signature, certificate, digest)
        body = await request.body() if read_body else None
        return await run_in_threadpool(
            service.authenticate_signed, request.method, target, headers, body
        )
    name = await run_in_threadpool(
        service.authenticate_bearer, _bearer(authorization), request.method, target
    )
    return AuthenticatedRecipient(name, Credential.BEARER_KEY)


SignatureHeader = Annotated[
    str | None, Header(description="created, nonce, alg, sig (docs/security.md)")
]
CertificateHeader = Annotated[
    str | None, Header(description="the signer's certificate (base64 DER) or sha256:<hex>")
]
DigestHeader = Annotated[
    str | None, Header(description="sha-256=:<base64>: of the body (RFC 9530), signed")
]
AuthorizationHeader = Annotated[
    str | None, Header(description="transitional: Bearer <recipient key>")
]


async def _recipient(
    request: Request,
    services: ServicesDep,
    jukinet_signature: SignatureHeader = None,
    jukinet_certificate: CertificateHeader = None,
    content_digest: DigestHeader = None,
    authorization: AuthorizationHeader = None,
) -> AuthenticatedRecipient:
    return await _authenticate(
        request,
        services,
        jukinet_signature,
        jukinet_certificate,
        content_digest,
        authorization,
        read_body=True,
    )


def credentials_of(request: Request) -> RecipientCredentials:
    """The credential headers of ``request`` (a route reading them itself declares
    :data:`CREDENTIAL_HEADERS` for OpenAPI: FastAPI's header parameters cost more per
    request than reading four headers)."""
    headers = request.headers
    return RecipientCredentials(
        headers.get("jukinet-signature"),
        headers.get("jukinet-certificate"),
        headers.get("content-digest"),
        headers.get("authorization"),
    )


CREDENTIAL_HEADERS: list[dict[str, Any]] = [
    {
        "name": name,
        "in": "header",
        "required": False,
        "description": text,
        "schema": {"type": "string"},
    }
    for name, text in (
        ("jukinet-signature", "created, nonce, alg, sig (docs/security.md)"),
        ("jukinet-certificate", "the signer's certificate (base64 DER) or sha256:<hex>"),
        ("content-digest", "sha-256=:<base64>: of the body (RFC 9530), signed"),
        ("authorization", "transitional: Bearer <recipient key>"),
    )
]
"""The credential headers as OpenAPI parameters (``openapi_extra``), as the dependencies
below declare them."""


async def _streaming_recipient(
    request: Request,
    services: ServicesDep,
    jukinet_signature: SignatureHeader = None,
    jukinet_certificate: CertificateHeader = None,
    content_digest: DigestHeader = None,
    authorization: AuthorizationHeader = None,
) -> AuthenticatedRecipient:
    return await _authenticate(
        request,
        services,
        jukinet_signature,
        jukinet_certificate,
        content_digest,
        authorization,
        read_body=False,
    )


async def confirm_body(
    request: Request, recipient: AuthenticatedRecipient, body_sha256: bytes
) -> None:
    """After streaming: refuse (401 ``digest_mismatch``) a body that is not the one signed."""
    if recipient.content_sha256 is None:
        return
    service = auth_service(request, request.app.state.services)
    await run_in_threadpool(
        service.confirm_body, recipient, body_sha256, request.method, _target(request)
    )


RecipientDep = Annotated[AuthenticatedRecipient, Depends(_recipient)]
"""The authenticated recipient of a provision request (401/403 problem+json otherwise)."""
StreamingRecipientDep = Annotated[AuthenticatedRecipient, Depends(_streaming_recipient)]
"""The same, with the body left to stream: the route must call :func:`confirm_body`."""

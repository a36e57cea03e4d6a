"""The recipient behind a request to the provision API: ``RecipientDep``.

A signed request (``Jukinet-Signature``, ``Jukinet-Certificate``, ``Content-Digest``: see
``net/request_signing.py``) is verified over the method, the request target exactly as
received (raw path and query) and the body's digest; without a signature, the transitional
bearer key (``Authorization: Bearer jkr_…``) is accepted. Refusals are ``AuthRefused``:
problem+json 401 naming the rule, 403 ``recipient_suspended``. The headers are declared here
so OpenAPI shows them on every recipient route.

``StreamingRecipientDep`` leaves the body unread (batch files of gigabytes): the route hashes
it while streaming and calls :func:`confirm_body`.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.api.deps import AppServices, ServicesDep
from jukinet.net.request_signing import request_target
from jukinet.services.national.recipient_auth import (
    AuthenticatedRecipient,
    Credential,
    RecipientAuthService,
    SignedHeaders,
)

__all__ = [
    "AuthenticatedRecipient",
    "RecipientDep",
    "StreamingRecipientDep",
    "confirm_body",
]

_build_lock = threading.Lock()


def _service(request: Request, services: AppServices) -> RecipientAuthService:
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
    service = _service(request, services)
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
    service = _service(request, request.app.state.services)
    await run_in_threadpool(
        service.confirm_body, recipient, body_sha256, request.method, _target(request)
    )


RecipientDep = Annotated[AuthenticatedRecipient, Depends(_recipient)]
"""The authenticated recipient of a provision request (401/403 problem+json otherwise)."""
StreamingRecipientDep = Annotated[AuthenticatedRecipient, Depends(_streaming_recipient)]
"""The same, with the body left to stream: the route must call :func:`confirm_body`."""

"""The HTTPS transport between node processes: mutual TLS, one POST per batch.

TLS keeps strangers out (both sides present a certificate of the network PKI); who sent a
message is still decided by its signature on the receiving side. Anything short of a 200 with
well-formed acknowledgements is a :class:`TransportError`, so the delivery worker retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import httpx

from jukinet.net.pki import NodeCredentials, TrustStore
from jukinet.net.tls import client_ssl_context
from jukinet.net.transport import Ack, AckStatus, TransportError

__all__ = ["MESSAGES_PATH", "HttpTransport", "peer_url"]

MESSAGES_PATH: Final = "/network/messages"
MAX_MESSAGES_PER_REQUEST: Final = 1000
"""The endpoint accepts 2000 per request; stay well below it."""

_REASON_SNIPPET: Final = 300


def peer_url(peers: Mapping[str, str], node_id: str) -> str | None:
    """The base URL for ``node_id``: its exact entry, else its role's ``role/*``, else ``*``."""
    for key in (node_id, f"{node_id.split('/', 1)[0]}/*", "*"):
        url = peers.get(key)
        if url is not None:
            return url
    return None


class HttpTransport:
    """Sends wire messages to peers over HTTPS with this node's certificate (mutual TLS)."""

    def __init__(
        self,
        peers: Mapping[str, str],
        credentials: NodeCredentials,
        trust: TrustStore,
        timeout: float = 30.0,
        *,
        check_hostname: bool = True,
    ) -> None:
        self.peers = {k: v.rstrip("/") for k, v in peers.items()}
        for key, url in self.peers.items():
            if not url.startswith("https://"):
                raise ValueError(f"peer {key}: {url!r} is not an https:// URL")
        self._client = httpx.Client(
            verify=client_ssl_context(credentials, trust, check_hostname=check_hostname),
            timeout=timeout,
            trust_env=False,  # a proxy from the environment must never sit between nodes
        )

    def send(self, receiver: str, wires: Sequence[bytes]) -> list[Ack]:
        base = peer_url(self.peers, receiver)
        if base is None:
            raise TransportError(f"no peer URL configured for {receiver}")
        acks: list[Ack] = []
        batch = list(wires)
        for start in range(0, len(batch), MAX_MESSAGES_PER_REQUEST):
            acks.extend(self._post(receiver, base, batch[start : start + MAX_MESSAGES_PER_REQUEST]))
        return acks

    def _post(self, receiver: str, base: str, wires: list[bytes]) -> list[Ack]:
        where = f"{receiver} at {base}"
        try:
            body = {"messages": [w.decode("utf-8") for w in wires]}
        except UnicodeDecodeError as exc:  # sealed wires are ASCII JSON; this is a local bug
            raise TransportError(f"{where}: a wire message is not UTF-8 text: {exc}") from exc
        try:
            response = self._client.post(base + MESSAGES_PATH, json=body)
        except httpx.TimeoutException as exc:
            raise TransportError(f"{where}: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            snippet = response.text[:_REASON_SNIPPET]
            raise TransportError(f"{where}: HTTP {response.status_code}: {snippet}")
        return _parse_acks(where, response.content)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _parse_acks(where: str, content: bytes) -> list[Ack]:
    """Acks from the response body; anything malformed is the peer's fault: retry later."""
    try:
        data: Any = json.loads(content)
        return [_ack(a) for a in data["acks"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TransportError(f"{where}: malformed acknowledgements: {exc}") from exc


def _ack(raw: dict[str, Any]) -> Ack:
    message_id = raw.get("message_id")
    expected = raw.get("expected_seq")
    reason = raw.get("reason")
    return Ack(
        message_id=None if message_id is None else str(message_id),
        status=AckStatus(raw["status"]),
        reason=None if reason is None else str(reason),
        expected_seq=None if expected is None else int(expected),
    )

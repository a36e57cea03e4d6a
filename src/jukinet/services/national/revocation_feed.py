"""The certificate revocation feed (公的個人認証: 異動等失効情報) at the national center.

Which side: in 2014 the certificate authority of the resident cards' public-key certificates
(JPKI) was the prefectural governors, run by the designated certification body (LASDEC, since
2014-04-01 J-LIS, the organisation that also runs the national center); it learnt of changes
of name and address and of deaths from Juki-net. Here the national center derives a
revocation notice from every identity update it applies (``notices_for``, inside that update's
transaction) and serves them, in order, as a feed the certificate authority reads with a
resumable cursor (``GET /revocation-feed``, ``jukinet revocation-feed``). The identity update
is already the signed, exactly-once carrier of the change from the municipality where it was
recorded; a second message type would only repeat it and could disagree with it.

Certificate holdings: the network does not know who holds a certificate (the card and its
certificate are the certificate authority's and the home municipality's business), so a notice
is emitted for every qualifying change and the certificate authority keeps those that match a
certificate it issued. A notice carries the resident code, the causes, the change and the
municipality, not the new name or address: the authority needs to know which certificate to
revoke, not the person's new details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from jukinet.clock import Clock
from jukinet.domain.affairs import RecipientKind
from jukinet.domain.errors import RuleViolation
from jukinet.domain.identity import IdentityRecord, supersedes
from jukinet.domain.revocation import revocation_causes
from jukinet.services.audit import AuditLog
from jukinet.store import provision as provision_store
from jukinet.store import revocation_feed as store
from jukinet.store.db import read_transaction, write_transaction
from jukinet.store.identity_records import NATIONAL, current_records

MAX_PAGE = 1000


def notices_for(conn: Connection, versions: list[IdentityRecord]) -> list[store.NewNotice]:
    """The notices an identity update's versions call for, read against the current records
    before the update is applied (a version that will not become current calls for none)."""
    current = current_records(conn, NATIONAL, [v.resident_code for v in versions])
    notices = []
    for version in versions:
        previous = current.get(version.resident_code)
        if previous is not None and not supersedes(version, previous):
            continue
        current[version.resident_code] = version
        causes = revocation_causes(previous, version)
        if causes:
            notices.append(
                store.NewNotice(
                    version.resident_code,
                    version.lg_code,
                    causes,
                    version.change_reason,
                    version.change_date,
                )
            )
    return notices


def record_notices(
    conn: Connection,
    versions: list[IdentityRecord],
    *,
    source: str,
    source_seq: int,
    at: datetime,
) -> int:
    """Append the notices an identity update calls for (call before applying it)."""
    notices = notices_for(conn, versions)
    store.append_notices(conn, notices, source=source, source_seq=source_seq, at=at)
    return len(notices)


@dataclass(frozen=True, slots=True)
class FeedPage:
    notices: list[store.RevocationNotice]
    next_cursor: int  # pass as ``after`` to read on; equal to ``after`` when nothing is new
    more: bool  # another page is already there


def _page(conn: Connection, after: int, limit: int) -> FeedPage:
    if after < 0:
        raise RuleViolation("after", "range", "the cursor is 0 or a cursor the feed returned")
    if not 1 <= limit <= MAX_PAGE:
        raise RuleViolation("limit", "range", f"1..{MAX_PAGE} notices a page")
    found = store.notices_after(conn, after, limit + 1)
    page = found[:limit]
    return FeedPage(page, page[-1].cursor if page else after, len(found) > limit)


def read_feed(engine: Engine, after: int = 0, limit: int = 100) -> FeedPage:
    """Notices after the cursor ``after`` (0: from the start), oldest first (the national
    center's own operators, on its host: ``jukinet revocation-feed``)."""
    with read_transaction(engine) as conn:
        return _page(conn, after, limit)


class RevocationFeed:
    """The feed as certificate authorities read it over HTTP: only a recipient registered as a
    certificate authority (``jukinet recipient add NAME --kind cert_authority``) may, and
    every read is recorded in the national center's audit log."""

    def __init__(self, engine: Engine, clock: Clock, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.audit = audit or AuditLog(clock)

    def read(self, reader: str, after: int = 0, limit: int = 100) -> FeedPage:
        with write_transaction(self.engine) as conn:
            recipient = provision_store.get_recipient(conn, reader)
            if recipient is None or recipient.kind != RecipientKind.CERTIFICATE_AUTHORITY:
                raise RuleViolation(
                    "recipient",
                    "not_a_certificate_authority",
                    f"{reader} is not registered as a certificate authority",
                )
            page = _page(conn, after, limit)
            self.audit.record(
                conn,
                actor=f"recipient:{reader}",
                action="revocation_feed.read",
                obj=f"after={after}",
                detail={"count": len(page.notices), "next_cursor": page.next_cursor},
            )
            return page

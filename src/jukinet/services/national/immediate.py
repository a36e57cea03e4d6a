"""Immediate provision over the API: authentication and provision in one write transaction.

A request's authentication (its nonce consumed, its audit entry) and its provision (the
provision log, the monthly counter, the audit entry) commit together: a request that was
answered was also authenticated, logged, counted and audited, and a transaction that fails
leaves none of it. Requests are group-committed (``services/group_commit.py``): the requests
that queue while one transaction runs go into the next one, each still decided on its own —
its own authentication, rules and refusal — so the batch changes what is written per commit,
not what any request is answered.

What each request gets, in this order (as with a transaction per request):

1. authentication: a refusal before the database (bad signature, stale, revoked …) or in it
   (unknown or suspended recipient, replayed nonce) is audited and answered (401/403), and
   nothing else of the request is done;
2. a body that did not parse: the authentication stays recorded (nonce, audit entry) and the
   request is answered 422;
3. the affair's rules and the query's validity: a refusal is audited with the rule;
4. the match, then for a record found: its provision log row and counter, in the same
   transaction; every outcome is audited.

Per transaction: the recipients CRL and crypto policy are checked once (one small query), the
recipient and affair rows are read once per name, the nonces go in one insert, the records asked
for by code in one query, the log rows in one insert, each counter in one upsert, and the audit
entries in one append that holds the chain's head once, as late as possible.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine

from jukinet.clock import Clock
from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import AuthRefused
from jukinet.domain.provision import ProvisionQuery, ProvisionResult, validate_query
from jukinet.services.audit import AuditLog
from jukinet.services.group_commit import GroupCommitter
from jukinet.services.national.provision import Decision, ProvisionService
from jukinet.services.national.recipient_auth import (
    Attempt,
    AuthenticatedRecipient,
    RecipientAuthService,
)
from jukinet.store import provision as store
from jukinet.store.audit import NewEntry
from jukinet.store.db import write_transaction
from jukinet.store.identity_records import NATIONAL, current_records
from jukinet.store.recipient_nonces import record_nonces

MAX_BATCH: Final = 64


@dataclass(frozen=True, slots=True)
class ImmediateCall:
    """One request: its credential attempt and what its body came to."""

    attempt: Attempt
    query: ProvisionQuery | None
    """``None`` when the body did not parse (``malformed`` says how)."""
    malformed: Exception | None = None
    """Raised to the caller once the request is authenticated (the route's 422)."""
    refusal: RuleViolation | None = None
    """A query refused before the database (e.g. an unknown field), audited as a refusal."""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class ImmediateAnswer:
    recipient: AuthenticatedRecipient
    result: ProvisionResult


class ImmediateProvision:
    """Authenticated immediate provision, one write transaction per batch of requests."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        auth: RecipientAuthService,
        audit: AuditLog | None = None,
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.auth = auth
        self.provision = ProvisionService(engine, clock, audit or auth.audit)
        self.audit = self.provision.audit
        self._committer: GroupCommitter[ImmediateCall, ImmediateAnswer] = GroupCommitter(
            self.process, name="immediate-provision", max_batch=max_batch
        )

    async def answer(self, call: ImmediateCall) -> ImmediateAnswer:
        """The answer to one request once its transaction committed; raises AuthRefused,
        RuleViolation or ``call.malformed`` for a refusal (recorded by then)."""
        if call.attempt.refusal is not None and not call.attempt.audited:
            raise call.attempt.refusal  # no credential at all: nothing to record
        return await self._committer.run(call)

    def answer_now(self, call: ImmediateCall) -> ImmediateAnswer:
        """As :meth:`answer`, blocking (callers outside an event loop)."""
        if call.attempt.refusal is not None and not call.attempt.audited:
            raise call.attempt.refusal
        return self._committer.call(call)

    def process(self, calls: Sequence[ImmediateCall]) -> list[ImmediateAnswer | Exception]:
        """Decide and write every call in one write transaction (the group committer's
        ``process``); one outcome per call, in order."""
        outcomes: list[ImmediateAnswer | Exception | None] = [None] * len(calls)
        entries: list[list[NewEntry]] = [[] for _ in calls]
        decided: list[tuple[int, AuthenticatedRecipient, Decision]] = []
        with write_transaction(self.engine) as conn:
            now = self.clock.now()
            changed = self.auth.documents_changed(conn)
            reads = store.TransactionReads(conn)
            checked: list[AuthenticatedRecipient | AuthRefused] = []
            for call in calls:
                try:
                    checked.append(
                        self.auth.check(conn, call.attempt, documents_changed=changed, reads=reads)
                    )
                except AuthRefused as exc:
                    checked.append(exc)
            signed = [
                c.attempt
                for c, who in zip(calls, checked, strict=True)
                if not isinstance(who, AuthRefused) and c.attempt.verified is not None
            ]
            fresh = record_nonces(conn, [self.auth.nonce_row(a) for a in signed])
            records = current_records(conn, NATIONAL, _codes(calls, checked))
            for i, (call, admitted) in enumerate(zip(calls, checked, strict=True)):
                who = admitted
                if not isinstance(who, AuthRefused) and call.attempt.verified is not None:
                    nonce = (who.name, call.attempt.verified.nonce)
                    if nonce in fresh:
                        fresh.discard(nonce)  # its first use; a second in this batch replays
                    else:
                        who = self.auth.replayed(call.attempt)
                if isinstance(who, AuthRefused):
                    entries[i].append(self.auth.refused(call.attempt, who, now))
                    outcomes[i] = who
                    continue
                entries[i].append(self.auth.accepted(call.attempt))
                if call.query is None:
                    assert call.malformed is not None
                    outcomes[i] = call.malformed
                    continue
                request_id = call.request_id or str(uuid.uuid4())
                try:
                    if call.refusal is not None:
                        raise call.refusal
                    validate_query(call.query)
                    decision = self.provision.decide(
                        conn,
                        who.name,
                        call.query,
                        request_id,
                        now,
                        reads=reads,
                        records=records,
                    )
                except RuleViolation as exc:
                    entries[i].append(
                        self.provision.refusal(who.name, call.query, request_id, exc, now)
                    )
                    outcomes[i] = exc
                    continue
                decided.append((i, who, decision))
            self.auth.purge_if_due(conn, now)
            written = self.provision.write(conn, [d for _, _, d in decided], now)
            for (i, who, _), (result, entry) in zip(decided, written, strict=True):
                entries[i].append(entry)
                outcomes[i] = ImmediateAnswer(who, result)
            self.audit.record_all(conn, [e for per_call in entries for e in per_call])
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]


def _codes(
    calls: Sequence[ImmediateCall], checked: Sequence[AuthenticatedRecipient | AuthRefused]
) -> list[str]:
    """The resident codes asked for by authenticated calls (read in one query)."""
    return [
        c.query.resident_code
        for c, who in zip(calls, checked, strict=True)
        if c.query is not None
        and c.query.resident_code is not None
        and not isinstance(who, AuthRefused)
    ]

"""The certificate revocation feed: ``GET /revocation-feed?after=<cursor>`` (national center).

The caller is a certificate authority (the JPKI side), not an operator: a recipient registered
with kind ``cert_authority``, authenticated like every recipient (a request signed with its
certificate, or transitionally its bearer key; ``interfaces/api/recipient_auth.py``). Another
recipient gets 403 ``not_a_certificate_authority``.

Notices come oldest first. Read with ``after=0`` the first time, then with the
``next_cursor`` of the last page: nothing is skipped or repeated, across restarts of either
side. ``more`` says a further page is already there.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from jukinet.domain.errors import RuleViolation
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_response, problem_responses
from jukinet.interfaces.api.recipient_auth import RecipientDep
from jukinet.interfaces.api.schemas import ID_MAX
from jukinet.services.national.revocation_feed import MAX_PAGE, FeedPage, RevocationFeed

router = APIRouter(tags=["certificate revocation feed"])


class RevocationNoticeOut(BaseModel):
    cursor: int
    resident_code: str
    causes: list[str] = Field(description="name_change, address_change, death")
    change_reason: str
    change_date: date
    lg_code: str = Field(description="the municipality that recorded the change")
    recorded_at: datetime


class RevocationFeedOut(BaseModel):
    notices: list[RevocationNoticeOut]
    next_cursor: int = Field(description="pass as `after` to read on")
    more: bool


def feed_out(page: FeedPage) -> RevocationFeedOut:
    return RevocationFeedOut(
        notices=[
            RevocationNoticeOut(
                cursor=n.cursor,
                resident_code=n.resident_code,
                causes=[c.value for c in n.causes],
                change_reason=n.change_reason.value,
                change_date=n.change_date,
                lg_code=n.lg_code,
                recorded_at=n.recorded_at,
            )
            for n in page.notices
        ],
        next_cursor=page.next_cursor,
        more=page.more,
    )


@router.get(
    "/revocation-feed",
    response_model=RevocationFeedOut,
    responses=problem_responses(401, 403, 404, 422),
)
def revocation_feed(
    request: Request,
    services: ServicesDep,
    recipient: RecipientDep,
    after: Annotated[
        int, Query(ge=0, le=ID_MAX, description="the last cursor read (0: from the start)")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Any:
    assert services.national_engine is not None  # the recipient dependency checked it
    try:
        page = RevocationFeed(services.national_engine, services.clock).read(
            recipient.name, after, limit
        )
    except RuleViolation as exc:
        if exc.rule != "not_a_certificate_authority":
            raise
        return problem_response(
            403,
            "Refused",
            request=request,
            kind=exc.rule,
            detail=exc.message,
            field=exc.field,
            rule=exc.rule,
        )
    return JSONResponse(feed_out(page).model_dump(mode="json"))

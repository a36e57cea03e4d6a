"""The terminals' read API over a hosted municipality's register.

Every route needs a logged-in operator of that municipality (organisation
``municipality/<lg code>``) whose role may read the register (``resident.read``: registrar,
certificate clerk, disclosure officer). No session: 401; another organisation's operator: 403
``other_organisation``; a role without the permission (auditor, administrator): 403
``forbidden``. Each decision is recorded in the operator directory's audit log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from jukinet.domain.errors import RuleViolation
from jukinet.domain.operators import Action
from jukinet.interfaces.api.auth_deps import municipality_in_path, require_permission
from jukinet.interfaces.api.deps import ServicesDep
from jukinet.interfaces.api.problems import problem_responses
from jukinet.interfaces.api.schemas import EntryOut, EntryWithHistoryOut, Text, VersionOut

router = APIRouter(
    prefix="/municipalities/{lg_code}/residents",
    tags=["municipal register"],
    dependencies=[
        Depends(require_permission(Action.RESIDENT_READ, organisation=municipality_in_path))
    ],
)

LgCode = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit lg code")]
ResidentCode = Annotated[str, Path(pattern=r"^\d{11}$", description="11-digit resident code")]


@router.get("", responses=problem_responses(401, 403, 404, 422))
def search_residents(
    services: ServicesDep,
    lg_code: LgCode,
    name: Annotated[Text | None, Query(max_length=200)] = None,
    birth_date: date | None = None,
    address: Annotated[Text | None, Query(max_length=400)] = None,
    include_removed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EntryOut]:
    """Entries matching every given item (name and address by prefix, on search keys)."""
    found = services.register(lg_code).search(
        name=name,
        birth_date=birth_date,
        address=address,
        include_removed=include_removed,
        limit=limit,
    )
    return [EntryOut.of(e) for e in found]


@router.get("/{resident_code}", responses=problem_responses(401, 403, 404, 422))
def show_resident(
    services: ServicesDep, lg_code: LgCode, resident_code: ResidentCode
) -> list[EntryWithHistoryOut]:
    """Every entry the person has had here (newest first), each with all its versions."""
    entries = services.register(lg_code).show(resident_code)
    if not entries:
        raise RuleViolation("resident_code", "not_found", f"no entry for {resident_code}")
    return [
        EntryWithHistoryOut(
            current=EntryOut.of(e.current),
            history=[VersionOut(entry=EntryOut.of(v), recorded_at=at) for v, at in e.history],
        )
        for e in entries
    ]

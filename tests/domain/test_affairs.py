"""The annex table of the 2013 gazette notice, as shipped with the package."""

from __future__ import annotations

import pytest

from jukinet.domain.affairs import RecipientKind, affair_2013, affairs_2013
from jukinet.domain.errors import RuleViolation


def test_every_pair_of_the_2013_notice_is_there() -> None:
    affairs = affairs_2013()
    assert len(affairs) == 47
    assert len({a.affair_id for a in affairs}) == 47
    assert len({a.recipient for a in affairs}) == 21
    # every kind but the certificate authority, which reads the revocation feed, not records
    assert {a.recipient_kind for a in affairs} == set(RecipientKind) - {
        RecipientKind.CERTIFICATE_AUTHORITY
    }


def test_look_up_by_id_and_refuse_unknown() -> None:
    pension = [a for a in affairs_2013() if a.recipient == "日本年金機構"]
    assert len(pension) == 6
    assert affair_2013(pension[0].affair_id) == pension[0]
    with pytest.raises(RuleViolation) as err:
        affair_2013("NO-SUCH-1")
    assert (err.value.field, err.value.rule) == ("affair_id", "unknown_affair")

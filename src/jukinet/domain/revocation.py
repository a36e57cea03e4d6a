"""Which identity-record changes revoke a resident's public-key certificate (JPKI).

The signing certificate on a resident card certifies the holder's name and address; a change
of either, or the holder's death, revokes it automatically, fed by the change notices of the
network (DOMAIN.md §4). This module decides, from two consecutive versions of a person's
identity record, whether the newer one is such a change.

- **death**: the new version records a death;
- **name change**: the name or, for a foreign resident, the registered alias differs;
- **address change**: the address differs (a move within, a move-in from another
  municipality, a renumbering, a correction), or the person moved abroad (国外転出: the
  address is no longer in Japan, though the record keeps the last one).

Other removals (move-out, ex-officio deletion, nationality events) are left out: a move-out is
followed by the move-in elsewhere, which is the address change; the rest are not in the list
the project was given (*unverified* against the statute). The first version the center sees
of a person (a birth, a first upload, a code just assigned) revokes nothing: no certificate
can predate it. A version identical to the current one (a resend) revokes nothing either.

Pure: the national center's service hands in the versions.
"""

from __future__ import annotations

from enum import StrEnum

from jukinet.domain.identity import ChangeReason, IdentityRecord


class RevocationCause(StrEnum):
    NAME_CHANGE = "name_change"
    ADDRESS_CHANGE = "address_change"
    DEATH = "death"

    @property
    def label_ja(self) -> str:
        return {
            RevocationCause.NAME_CHANGE: "氏名の変更",
            RevocationCause.ADDRESS_CHANGE: "住所の変更",
            RevocationCause.DEATH: "死亡",
        }[self]


def revocation_causes(
    previous: IdentityRecord | None, new: IdentityRecord
) -> tuple[RevocationCause, ...]:
    """Why ``new`` (replacing ``previous`` as the person's current version) revokes the
    person's certificate; empty when it does not."""
    if previous is None or previous == new:
        return ()
    if new.change_reason is ChangeReason.DEATH:
        return () if previous.change_reason is ChangeReason.DEATH else (RevocationCause.DEATH,)
    if new.removed and new.change_reason is not ChangeReason.MOVE_ABROAD:
        return ()
    causes = []
    if new.name != previous.name or new.alias != previous.alias:
        causes.append(RevocationCause.NAME_CHANGE)
    if new.address != previous.address or new.change_reason is ChangeReason.MOVE_ABROAD:
        causes.append(RevocationCause.ADDRESS_CHANGE)
    return tuple(causes)

"""The identity record (本人確認情報): the only items the prefecture and national center may hold.

Each version of a record is complete and carries the change (reason and date) that produced it,
so upper tiers keep per-person histories keyed by resident code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Sex(StrEnum):
    """男女の別 as registered."""

    MALE = "male"
    FEMALE = "female"

    @property
    def label_ja(self) -> str:
        return "男" if self is Sex.MALE else "女"


class ChangeEffect(StrEnum):
    """What a change does to the register entry; the rules of each reason follow from it."""

    CREATES = "creates"  # a new register entry (住民票の記載)
    MODIFIES = "modifies"  # an item of an active entry changes
    REMOVES = "removes"  # the entry is removed (消除) and kept as a removed entry (除票)


class ChangeReason(StrEnum):
    """異動事由: every reason a municipality reports upward.

    The statutory list is unverified in public sources; this enumeration covers every way a
    register entry is created, removed, or has an identity item changed (DOMAIN.md §2), one
    member per distinct legal event so that statistics and rules can tell them apart.
    """

    BIRTH = "birth"  # 出生
    MOVE_IN = "move_in"  # 転入 (from another municipality)
    MOVE_IN_FROM_ABROAD = "move_in_from_abroad"  # 国外からの転入
    EX_OFFICIO_ENTRY = "ex_officio_entry"  # 職権記載
    NATIONALITY_ACQUISITION = "nationality_acquisition"  # 国籍取得 (new entry as a national)
    NATIONALITY_LOSS = "nationality_loss"  # 国籍喪失 (new entry as a foreign resident)
    BECAME_FOREIGN_RESIDENT = "became_foreign_resident"  # 外国人住民となった (e.g. by birth abroad)
    MOVE_WITHIN = "move_within"  # 転居
    ADDRESS_RENUMBERING = "address_renumbering"  # 住居表示の実施等 (address changes, no move)
    NAME_CHANGE = "name_change"  # 氏名の変更
    ALIAS_CHANGE = "alias_change"  # 通称の記載・削除 (foreign residents)
    SEX_CHANGE = "sex_change"  # 性別の取扱いの変更
    CORRECTION = "correction"  # 訂正 (on the person's request)
    EX_OFFICIO_CORRECTION = "ex_officio_correction"  # 職権修正
    RESIDENT_CODE_CHANGE = "resident_code_change"  # 住民票コードの変更
    RESIDENT_CODE_ASSIGNMENT = "resident_code_assignment"  # 住民票コードの記載 (foreign residents)
    MOVE_OUT = "move_out"  # 転出
    MOVE_ABROAD = "move_abroad"  # 国外転出
    DEATH = "death"  # 死亡
    EX_OFFICIO_DELETION = "ex_officio_deletion"  # 職権消除
    NATIONALITY_ACQUISITION_REMOVAL = "nationality_acquisition_removal"  # 国籍取得による消除
    NATIONALITY_LOSS_REMOVAL = "nationality_loss_removal"  # 国籍喪失による消除

    @property
    def effect(self) -> ChangeEffect:
        return _EFFECTS[self]

    @property
    def label_ja(self) -> str:
        return _LABELS_JA[self]


_CREATING = (
    ChangeReason.BIRTH,
    ChangeReason.MOVE_IN,
    ChangeReason.MOVE_IN_FROM_ABROAD,
    ChangeReason.EX_OFFICIO_ENTRY,
    ChangeReason.NATIONALITY_ACQUISITION,
    ChangeReason.NATIONALITY_LOSS,
    ChangeReason.BECAME_FOREIGN_RESIDENT,
)
_REMOVING = (
    ChangeReason.MOVE_OUT,
    ChangeReason.MOVE_ABROAD,
    ChangeReason.DEATH,
    ChangeReason.EX_OFFICIO_DELETION,
    ChangeReason.NATIONALITY_ACQUISITION_REMOVAL,
    ChangeReason.NATIONALITY_LOSS_REMOVAL,
)
_EFFECTS: dict[ChangeReason, ChangeEffect] = {
    r: ChangeEffect.CREATES
    if r in _CREATING
    else ChangeEffect.REMOVES
    if r in _REMOVING
    else ChangeEffect.MODIFIES
    for r in ChangeReason
}

_LABELS_JA: dict[ChangeReason, str] = {
    ChangeReason.BIRTH: "出生",
    ChangeReason.MOVE_IN: "転入",
    ChangeReason.MOVE_IN_FROM_ABROAD: "国外からの転入",
    ChangeReason.EX_OFFICIO_ENTRY: "職権記載",
    ChangeReason.NATIONALITY_ACQUISITION: "国籍取得",
    ChangeReason.NATIONALITY_LOSS: "国籍喪失",
    ChangeReason.BECAME_FOREIGN_RESIDENT: "外国人住民となった",
    ChangeReason.MOVE_WITHIN: "転居",
    ChangeReason.ADDRESS_RENUMBERING: "住居表示の実施等",
    ChangeReason.NAME_CHANGE: "氏名の変更",
    ChangeReason.ALIAS_CHANGE: "通称の記載・削除",
    ChangeReason.SEX_CHANGE: "性別の変更",
    ChangeReason.CORRECTION: "訂正",
    ChangeReason.EX_OFFICIO_CORRECTION: "職権修正",
    ChangeReason.RESIDENT_CODE_CHANGE: "住民票コードの変更",
    ChangeReason.RESIDENT_CODE_ASSIGNMENT: "住民票コードの記載",
    ChangeReason.MOVE_OUT: "転出",
    ChangeReason.MOVE_ABROAD: "国外転出",
    ChangeReason.DEATH: "死亡",
    ChangeReason.EX_OFFICIO_DELETION: "職権消除",
    ChangeReason.NATIONALITY_ACQUISITION_REMOVAL: "国籍取得による消除",
    ChangeReason.NATIONALITY_LOSS_REMOVAL: "国籍喪失による消除",
}


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One complete version of a person's identity record.

    ``name`` and ``address`` are stored exactly as registered (legal glyphs, never normalised);
    matching uses search keys derived separately (see ``jukinet.domain.names``).
    """

    resident_code: str
    lg_code: str
    name: str
    birth_date: date
    sex: Sex
    address: str
    change_reason: ChangeReason
    change_date: date
    name_kana: str | None = None
    alias: str | None = None
    former_surname: str | None = None

    @property
    def removed(self) -> bool:
        """True when this version records the removal of the register entry (除票)."""
        return self.change_reason.effect is ChangeEffect.REMOVES


def supersedes(new: IdentityRecord, current: IdentityRecord) -> bool:
    """Whether ``new`` becomes the current version over ``current`` at an upper tier.

    Updates from one municipality arrive in order, so a later one always wins. Updates from
    two municipalities (a move: removal at the old one, entry at the new one) travel on
    different channels and may cross; the later change date wins, and on the same date an
    entry wins over a removal, so a person who moved never ends up shown as removed.
    """
    if new.lg_code == current.lg_code:
        return True
    if new.change_date != current.change_date:
        return new.change_date > current.change_date
    return not (new.removed and not current.removed)

"""Fixed tables the generator draws from: age pyramid, household shapes, foreign residents.

All figures are rounded approximations of published 2014 statistics, good enough to make a
synthetic municipality look plausible; none of them is used for any legal purpose.
"""

from __future__ import annotations

from jukinet.domain.register import ForeignCategory

# Japan's population on 1 Oct 2014 by 5-year age band, thousands (Statistics Bureau's
# population estimates, rounded): 0-4, 5-9, ..., 95-99, 100+. Total ≈ 127.1 million.
AGE_BANDS_MALE = (
    2667, 2730, 2899, 3070, 3193, 3503, 3906, 4543, 4947, 4175, 3899,
    3842, 4694, 4442, 3681, 2797, 1929, 937, 268, 46, 7,
)  # fmt: skip
AGE_BANDS_FEMALE = (
    2540, 2601, 2760, 2917, 3041, 3384, 3801, 4436, 4846, 4136, 3874,
    3887, 4880, 4823, 4211, 3528, 2878, 1915, 920, 290, 51,
)  # fmt: skip
MAX_AGE = 104  # the 100+ band is spread over 100-104

# Household shapes (2010 census family types, rounded): one person, couple only, couple and
# children, one parent and children, three generations (head's parents live in). With the
# children/parents counts below the mean household size is ≈ 2.4 (2.42 in the 2010 census).
SINGLE, COUPLE, COUPLE_KIDS, SINGLE_PARENT, THREE_GEN = range(5)
HOUSEHOLD_TYPES_NATIONAL = (0.345, 0.215, 0.27, 0.09, 0.08)
# Foreign residents live alone far more often (students, technical intern trainees).
HOUSEHOLD_TYPES_FOREIGN = (0.55, 0.15, 0.24, 0.06, 0.0)
CHILDREN_COUPLE = (0.0, 0.42, 0.43, 0.13, 0.02)  # P(k children), k = 0..4
CHILDREN_SINGLE_PARENT = (0.0, 0.60, 0.32, 0.08, 0.0)
CHILDREN_THREE_GEN = (0.20, 0.35, 0.35, 0.10, 0.0)
PARENTS_THREE_GEN = (0.0, 0.60, 0.40)  # P(p parents of the head), p = 0..2

# Age window of the household head per type (years, inclusive).
HEAD_AGE = {
    SINGLE: (18, MAX_AGE),
    COUPLE: (22, MAX_AGE),
    COUPLE_KIDS: (24, 70),
    SINGLE_PARENT: (22, 75),
    THREE_GEN: (28, 62),
}
# Share of heads aged 65+ (drawn from the pyramid's 65+ part): elderly people live alone or as
# a couple far more than the pyramid alone implies (2010 census: ~40% of such households).
HEAD_ELDERLY_SHARE = {
    SINGLE: 0.4,
    COUPLE: 0.6,
    COUPLE_KIDS: 0.0,
    SINGLE_PARENT: 0.0,
    THREE_GEN: 0.0,
}
HEAD_MALE_SHARE = {SINGLE: 0.5, COUPLE: 0.9, COUPLE_KIDS: 0.9, SINGLE_PARENT: 0.15, THREE_GEN: 0.9}

FOREIGN_SHARE = 0.016  # 2.12 million registered foreign residents of 127 million (end 2014)
BORN_ABROAD_NATIONAL = 0.02  # national households whose last address was abroad
SAME_PREFECTURE_MOVE = 0.6  # share of move-ins coming from the same prefecture

# Nationality (国籍・地域) of foreign households, end-2014 shares (Immigration Bureau, rounded),
# with the share of households that are special permanent residents (特別永住者).
NATIONALITIES = (
    ("中国", 0.31, 0.01),
    ("韓国", 0.22, 0.55),
    ("朝鮮", 0.02, 0.95),
    ("フィリピン", 0.11, 0.0),
    ("ブラジル", 0.09, 0.0),
    ("ベトナム", 0.06, 0.0),
    ("米国", 0.03, 0.0),
    ("ペルー", 0.025, 0.0),
    ("台湾", 0.025, 0.01),
    ("タイ", 0.02, 0.0),
    ("ネパール", 0.02, 0.0),
    ("インドネシア", 0.015, 0.0),
    ("インド", 0.01, 0.0),
    ("英国", 0.01, 0.0),
)

SPECIAL_PERMANENT = ForeignCategory.SPECIAL_PERMANENT.value  # 特別永住者
MID_LONG_TERM = ForeignCategory.MID_LONG_TERM.value  # 中長期在留者
# Residence status (在留資格) of a mid/long-term household head: (status, weight, periods).
# Names as in force in 2014 (技術 and 人文知識・国際業務 merged only in 2015). Permanent
# residents have no period of stay.
RESIDENCE_STATUSES = (
    ("永住者", 0.40, ()),
    ("定住者", 0.08, ("1年", "3年", "5年")),
    ("日本人の配偶者等", 0.07, ("1年", "3年", "5年")),
    ("永住者の配偶者等", 0.02, ("1年", "3年")),
    ("留学", 0.12, ("1年", "2年", "4年3月")),
    ("技能実習", 0.11, ("1年", "2年")),
    ("人文知識・国際業務", 0.06, ("1年", "3年", "5年")),
    ("技術", 0.04, ("1年", "3年", "5年")),
    ("技能", 0.03, ("1年", "3年")),
    ("特定活動", 0.02, ("6月", "1年")),
    ("投資・経営", 0.01, ("1年", "3年")),
)
DEPENDENT_STATUS = ("家族滞在", ("1年", "3年"))
PERIOD_DAYS = {"6月": 183, "1年": 365, "2年": 730, "3年": 1095, "4年3月": 1552, "5年": 1826}

# Foreign names per nationality: (surname, reading) and given names (name, reading, sex 0=m).
# Latin-script names are written as on the residence card (upper case, ASCII space);
# Chinese and Korean names in kanji with an ideographic space, like Japanese names.
FOREIGN_NAMES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, int], ...]]] = {
    "中国": (
        (("王", "ワン"), ("李", "リー"), ("張", "チャン"), ("劉", "リュウ"), ("陳", "チェン"),
         ("楊", "ヤン"), ("趙", "チャオ"), ("黄", "ファン"), ("周", "チョウ"), ("呉", "ウー")),
        (("偉", "ウェイ", 0), ("強", "チャン", 0), ("磊", "レイ", 0), ("軍", "ジュン", 0),
         ("芳", "ファン", 1), ("娜", "ナー", 1), ("静", "ジン", 1), ("麗", "リー", 1)),
    ),
    "台湾": (
        (("陳", "チェン"), ("林", "リン"), ("黄", "ホワン"), ("張", "チャン"), ("李", "リー")),
        (("志明", "ジーミン", 0), ("建宏", "ジェンホン", 0), ("淑芬", "シューフェン", 1),
         ("美玲", "メイリン", 1)),
    ),
    "韓国": (
        (("金", "キム"), ("李", "イ"), ("朴", "パク"), ("崔", "チェ"), ("鄭", "チョン"),
         ("姜", "カン"), ("趙", "チョ"), ("尹", "ユン")),
        (("民俊", "ミンジュン", 0), ("志勲", "ジフン", 0), ("英哲", "ヨンチョル", 0),
         ("成浩", "ソンホ", 0), ("英姫", "ヨンヒ", 1), ("美淑", "ミスク", 1),
         ("順子", "スンジャ", 1), ("秀珍", "スジン", 1)),
    ),
    "朝鮮": (
        (("金", "キム"), ("李", "リ"), ("朴", "パク"), ("高", "コ")),
        (("光男", "クァンナム", 0), ("英一", "ヨンイル", 0), ("貞子", "チョンジャ", 1),
         ("順姫", "スンヒ", 1)),
    ),
    "フィリピン": (
        (("SANTOS", "サントス"), ("REYES", "レイエス"), ("CRUZ", "クルス"),
         ("BAUTISTA", "バウティスタ"), ("GARCIA", "ガルシア"), ("MENDOZA", "メンドーサ")),
        (("JOSE", "ホセ", 0), ("MARK", "マーク", 0), ("JOHN PAUL", "ジョン ポール", 0),
         ("MARIA", "マリア", 1), ("ROSALIE", "ロザリー", 1), ("JOY", "ジョイ", 1)),
    ),
    "ブラジル": (
        (("SILVA", "シルバ"), ("SANTOS", "サントス"), ("OLIVEIRA", "オリベイラ"),
         ("SOUZA", "ソウザ"), ("PEREIRA", "ペレイラ"), ("NAKAMURA", "ナカムラ")),
        (("JOAO", "ジョアン", 0), ("LUCAS", "ルーカス", 0), ("RAFAEL", "ハファエル", 0),
         ("ANA", "アナ", 1), ("JULIANA", "ジュリアナ", 1), ("FERNANDA", "フェルナンダ", 1)),
    ),
    "ペルー": (
        (("QUISPE", "キスペ"), ("FLORES", "フローレス"), ("RAMOS", "ラモス"),
         ("HIGA", "ヒガ")),
        (("CARLOS", "カルロス", 0), ("LUIS", "ルイス", 0), ("ROSA", "ロサ", 1),
         ("CARMEN", "カルメン", 1)),
    ),
    "ベトナム": (
        (("NGUYEN", "グエン"), ("TRAN", "チャン"), ("LE", "レ"), ("PHAM", "ファム"),
         ("HOANG", "ホアン"), ("VU", "ヴー")),
        (("VAN AN", "ヴァン アン", 0), ("MINH DUC", "ミン ドゥック", 0),
         ("VAN HUNG", "ヴァン フン", 0), ("THI HOA", "ティ ホア", 1),
         ("THI LAN", "ティ ラン", 1), ("THI MAI", "ティ マイ", 1)),
    ),
    "タイ": (
        (("SRISUK", "シースック"), ("CHAIYAPORN", "チャイヤポーン"), ("WONGSA", "ウォンサー")),
        (("SOMCHAI", "ソムチャイ", 0), ("ANAN", "アナン", 0), ("SUDA", "スダー", 1),
         ("NARIN", "ナリン", 1)),
    ),
    "ネパール": (
        (("GURUNG", "グルン"), ("SHRESTHA", "シュレスタ"), ("TAMANG", "タマン"),
         ("RAI", "ライ")),
        (("RAM", "ラム", 0), ("BIKASH", "ビカシュ", 0), ("SITA", "シタ", 1),
         ("ANITA", "アニタ", 1)),
    ),
    "インドネシア": (
        (("SANTOSO", "サントソ"), ("WIJAYA", "ウィジャヤ"), ("HIDAYAT", "ヒダヤット")),
        (("AGUS", "アグス", 0), ("BUDI", "ブディ", 0), ("SITI", "シティ", 1),
         ("DEWI", "デウィ", 1)),
    ),
    "インド": (
        (("SHARMA", "シャルマ"), ("SINGH", "シン"), ("PATEL", "パテル"), ("KUMAR", "クマール")),
        (("RAHUL", "ラフル", 0), ("AMIT", "アミット", 0), ("PRIYA", "プリヤ", 1),
         ("ANJALI", "アンジャリ", 1)),
    ),
    "米国": (
        (("SMITH", "スミス"), ("JOHNSON", "ジョンソン"), ("WILLIAMS", "ウィリアムズ"),
         ("BROWN", "ブラウン"), ("MILLER", "ミラー")),
        (("MICHAEL", "マイケル", 0), ("DAVID", "デイビッド", 0), ("JENNIFER", "ジェニファー", 1),
         ("SARAH", "サラ", 1)),
    ),
    "英国": (
        (("TAYLOR", "テイラー"), ("JONES", "ジョーンズ"), ("EVANS", "エヴァンズ")),
        (("JAMES", "ジェームズ", 0), ("OLIVER", "オリバー", 0), ("EMMA", "エマ", 1),
         ("CHARLOTTE", "シャーロット", 1)),
    ),
}  # fmt: skip

"""The Japanese font the documents use: Debian's ``fonts-noto-cjk`` (embedded in every PDF)."""

from __future__ import annotations

from pathlib import Path

NOTO_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
SANS_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKjp-Regular.otf")


class FontMissing(RuntimeError):
    """The CJK font is not installed (``apt-get install fonts-noto-cjk``)."""


def noto_sans_cjk() -> Path:
    for directory in NOTO_DIRS:
        for name in SANS_FILES:
            path = directory / name
            if path.exists():
                return path
    raise FontMissing("Noto Sans CJK not found: apt-get install -y fonts-noto-cjk")

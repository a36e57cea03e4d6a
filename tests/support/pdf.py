"""Reading a rendered Japanese document back: its text, its fonts, its first page as a PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

needs_pdf_tools = pytest.mark.skipif(
    os.environ.get("CI") != "true"
    and (shutil.which("pdftotext") is None or not Path("/usr/share/fonts/opentype/noto").exists()),
    reason="needs poppler-utils and fonts-noto-cjk (apt-get install, see .ci/run); "
    "never skipped in CI, where .ci/run installs them",
)
"""Module mark of the document tests: outside CI a machine without poppler may skip them."""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def first_page_png(pdf: Path, out: Path, dpi: int = 50) -> Path:
    """Page 1 of ``pdf`` rasterised by pdftoppm into the folder ``out``."""
    prefix = out / pdf.stem
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", str(pdf), str(prefix)],
        check=True,
    )
    (page,) = out.glob(f"{pdf.stem}*.png")
    assert page.read_bytes()[:8] == PNG_MAGIC
    return page


def read_back(pdf: Path) -> str:
    """The PDF's text with white space removed, after checking every font is embedded."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts
    for line in fonts:
        assert line.split()[-5] == "yes", line  # the "emb" column
    return "".join(text.split())

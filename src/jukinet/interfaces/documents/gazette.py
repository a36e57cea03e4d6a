"""The gazette notice (公告) as published, rendered to PDF with WeasyPrint.

The template (``templates/gazette.html``) is Japanese; the font is Noto Sans CJK from Debian's
``fonts-noto-cjk``, loaded by file URL through ``@font-face`` so that WeasyPrint embeds (a
subset of) it and renders non-BMP kanji too.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from weasyprint import HTML  # type: ignore[import-untyped]

from jukinet.interfaces.documents.fonts import noto_sans_cjk
from jukinet.services.national.gazette import GazetteNotice


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("jukinet.interfaces.documents", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["thousands"] = lambda n: f"{n:,}"
    return env


def gazette_html(notice: GazetteNotice) -> str:
    template = _environment().get_template("gazette.html")
    return template.render(
        notice=notice, font_url=noto_sans_cjk().as_uri(), by_method=notice.total_by_method()
    )


def render_gazette_pdf(notice: GazetteNotice, out: Path) -> Path:
    """Write the notice to ``out`` (PDF) and return it."""
    HTML(string=gazette_html(notice)).write_pdf(out)
    return out

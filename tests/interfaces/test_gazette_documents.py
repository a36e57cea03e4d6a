"""The notice as a PDF: renders, reads back in Japanese (pdftotext), fonts embedded (pdffonts)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.interfaces.documents.chart import render_chart
from jukinet.interfaces.documents.gazette import render_gazette_pdf
from jukinet.services.national.gazette import (
    LASDEC,
    LEGAL_BASIS,
    GazetteNotice,
    GazetteRow,
    period_months,
)
from tests.support.pdf import first_page_png, needs_pdf_tools, read_back

pytestmark = needs_pdf_tools


def _notice() -> GazetteNotice:
    rows = (
        GazetteRow(
            "日本年金機構",
            "NENKIN-1",
            "被保険者に係る届出、年金である給付に係る権利の裁定に関する事務",
            "2012-08",
            "平成24年8月",
            "batch_line",
            "電気通信回線",
            40_000_000,
        ),
        GazetteRow(
            "𠮷田機構",  # a non-BMP kanji renders and is embedded too
            "X-1",
            "𠮷の事務",
            "2013-07",
            "平成25年7月",
            "immediate",
            "即時提供",
            1234,
        ),
    )
    return GazetteNotice(period_months("2012-08..2013-07"), rows, date(2013, 8, 30), LASDEC)


def test_pdf_renders_in_japanese_with_embedded_fonts(tmp_path: Path) -> None:
    pdf = render_gazette_pdf(_notice(), tmp_path / "gazette.pdf")
    compact = read_back(pdf)
    for expected in (
        "提供件数合計",
        "40,001,234件",
        "平成24年8月",
        "平成25年7月",
        LEGAL_BASIS,
        "平成24年8月から平成25年7月まで",
        "平成25年8月30日",
        LASDEC,
        "電気通信回線",
        "磁気媒体による一括提供",
        "𠮷田機構",
    ):
        assert expected in compact, expected
    first_page_png(pdf, tmp_path)


def test_chart_is_a_png(tmp_path: Path) -> None:
    png = render_chart(_notice(), tmp_path / "gazette.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_cli_writes_csv_pdf_and_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jukinet.interfaces.cli.app import app  # noqa: PLC0415

    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    stats = tmp_path / "old.csv"
    stats.write_text(
        "recipient,affair_id,year_month,method,count\n"
        "日本年金機構,NENKIN-1,2012-08,batch_line,40000000\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["provision", "import-stats", str(stats)])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["provision", "import-stats", str(stats)])
    assert again.exit_code == 1
    assert "line 2" in again.output
    assert "already imported" in again.output
    result = runner.invoke(
        app, ["report", "gazette", "--period", "2012-08..2013-07", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "recipient,affair_id,affair,year_month,era_month,method,method_ja,count",
        "日本年金機構,NENKIN-1,被保険者に係る届出、年金である給付に係る権利の裁定若しくは"
        "支給の停止の解除又は受給権者に係る届出に関する事務,2012-08,平成24年8月,"
        "batch_line,電気通信回線,40000000",
    ]
    out = tmp_path / "notice.pdf"
    result = runner.invoke(
        app,
        [
            "report",
            "gazette",
            "--period",
            "2012-08..2013-07",
            "--format",
            "pdf",
            "--out",
            str(out),
            "--date",
            "2013-08-30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / "notice.png").exists()

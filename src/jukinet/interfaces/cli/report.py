"""``jukinet report``: the national center's publications (the gazette notice of provision, the
disclosure-request statistics)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jukinet.clock import today_in_japan
from jukinet.domain.disclosure import parse_office
from jukinet.interfaces.cli.common import clock, console_err, network, parse_date
from jukinet.nodes.roles import national_center_of
from jukinet.services.disclosure import disclosure_service, statistics_csv
from jukinet.services.national.gazette import gazette_csv, gazette_notice

app = typer.Typer(help="Publications of the national center.", no_args_is_help=True)


class Format(StrEnum):
    CSV = "csv"
    PDF = "pdf"


@app.command("gazette")
def gazette(
    period: Annotated[str, typer.Option("--period", help="months covered, e.g. 2012-08..2013-07")],
    fmt: Annotated[Format, typer.Option("--format", help="csv (the table) or pdf (the notice)")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output file (csv: stdout when omitted; pdf: default name)"),
    ] = None,
    notice_date: Annotated[
        str | None,
        typer.Option("--date", help="date of the notice (ISO or 平成25年8月30日); default today"),
    ] = None,
) -> None:
    """The annual notice of provision (公告): live and carried-over counts summed.

    The PDF is written with a PNG chart of the monthly counts by method beside it (same name,
    ``.png``)."""
    day = parse_date(notice_date, "date") or today_in_japan(clock())
    with network() as net:
        notice = gazette_notice(net.national.engine, period, day)
    if fmt is Format.CSV:
        text = gazette_csv(notice.rows)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
            console_err.print(f"{len(notice.rows):,} rows written to {escape(str(out))}")
        return
    # Imported lazily: WeasyPrint and matplotlib take a while to load.
    from jukinet.interfaces.documents.chart import render_chart  # noqa: PLC0415
    from jukinet.interfaces.documents.gazette import render_gazette_pdf  # noqa: PLC0415

    pdf = out or Path(f"gazette_{notice.months[0]}_{notice.months[-1]}.pdf")
    render_gazette_pdf(notice, pdf)
    png = render_chart(notice, pdf.with_suffix(".png"))
    console_err.print(
        f"notice ({len(notice.rows):,} rows, 提供件数合計 {notice.total:,} 件) written to "
        f"{escape(str(pdf))}, chart to {escape(str(png))}"
    )


@app.command("disclosures")
def disclosures(
    first: Annotated[
        int, typer.Option("--from", help="first fiscal year (April–March), e.g. 2002")
    ],
    last: Annotated[int, typer.Option("--to", help="last fiscal year, e.g. 2013")],
    fmt: Annotated[Format, typer.Option("--format", help="csv (the table) or pdf")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output file (csv: stdout when omitted; pdf: default name)"),
    ] = None,
    office: Annotated[
        str, typer.Option("--office", help="national, or a 2-digit prefecture code")
    ] = "national",
    report_date: Annotated[
        str | None, typer.Option("--date", help="date printed on the PDF; default today")
    ] = None,
) -> None:
    """Disclosure requests per fiscal year by request method (visit, mail) and delivery method
    (visit, mail), a total per row and a grand total row: the table the national center
    publishes."""
    parsed = parse_office(office, "--office")
    day = parse_date(report_date, "date") or today_in_japan(clock())
    with network() as net:
        desk = disclosure_service(
            parsed,
            clock(),
            national_engine=net.national.engine,
            national_files=net.national.files,
            prefectural_engine=net.prefecture.engine,
            national_center=national_center_of(net.prefecture),
        )
        rows = desk.statistics(first, last)
    if fmt is Format.CSV:
        text = statistics_csv(rows)
        if out is None:
            sys.stdout.write(text)
        else:
            out.write_text(text, encoding="utf-8")
            console_err.print(f"{len(rows) - 1} fiscal years written to {escape(str(out))}")
        return
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415
        letterhead,
        render_pdf,
        statistics_html,
    )

    pdf = out or Path(f"disclosures_{parsed.code}_FY{first}-FY{last}.pdf")
    render_pdf(statistics_html(rows, letterhead(parsed, day)), pdf)
    console_err.print(
        f"statistics (FY{first}-FY{last}, {rows[-1].total} requests) written to {escape(str(pdf))}"
    )

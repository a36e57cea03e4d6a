"""``jukinet revocation-feed``: the certificate revocation feed of the national center."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from jukinet.domain.eras import format_era_date
from jukinet.interfaces.cli.common import console, network
from jukinet.services.national.revocation_feed import MAX_PAGE, read_feed


def revocation_feed(
    after: Annotated[int, typer.Option(help="the last cursor read (0: from the start)")] = 0,
    limit: Annotated[int, typer.Option(help=f"notices a page (1..{MAX_PAGE})")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print the page as JSON")] = False,
) -> None:
    """Revocation notices after ``--after``, oldest first; read on from the next cursor
    printed. (A certificate authority reads the same feed over HTTP: GET /revocation-feed.)"""
    with network() as net:
        net.drain()
        page = read_feed(net.national.engine, after, limit)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "notices": [
                        {
                            "cursor": n.cursor,
                            "resident_code": n.resident_code,
                            "causes": [c.value for c in n.causes],
                            "change_reason": n.change_reason.value,
                            "change_date": n.change_date.isoformat(),
                            "lg_code": n.lg_code,
                            "recorded_at": n.recorded_at.isoformat(),
                        }
                        for n in page.notices
                    ],
                    "next_cursor": page.next_cursor,
                    "more": page.more,
                }
            )
        )
        return
    table = Table("cursor", "resident code", "causes", "change", "municipality")
    for n in page.notices:
        table.add_row(
            str(n.cursor),
            n.resident_code,
            "、".join(c.label_ja for c in n.causes),
            f"{format_era_date(n.change_date)} {n.change_reason.label_ja}",
            n.lg_code,
        )
    console.print(table)
    more = " (more after it)" if page.more else ""
    console.print(f"next cursor: {page.next_cursor}{more}")

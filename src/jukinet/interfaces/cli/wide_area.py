"""``jukinet wide-area``: wide-area certificates (住民票の写しの広域交付) at a municipality's
counter, on the embedded network under ``JUKINET_HOME``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from jukinet.domain.certificates import Options, Requester, RequestStatus, WideAreaRequest
from jukinet.interfaces.cli.common import console, network, require_date
from jukinet.interfaces.documents.certificates import document_of, render_certificate_pdf
from jukinet.nodes.embedded import EmbeddedNetwork
from jukinet.services.municipal.certificates import RequestView, WideAreaCertificates

app = typer.Typer(help="Wide-area certificates: request, follow, print, cancel; the fee.")

LgCode = Annotated[str, typer.Option("--lg-code", help="the issuing municipality (lg code)")]
Number = Annotated[int, typer.Argument(help="the request's number at this municipality")]
Out = Annotated[Path | None, typer.Option("--out", help="write the issued copy (PDF) here")]
ACTOR = "cli"


def _service(net: EmbeddedNetwork, lg_code: str) -> WideAreaCertificates:
    return net.municipality(lg_code).certificates[lg_code]


def _print(view: RequestView) -> None:
    stored = view.stored
    console.print(escape(f"request {stored.id} ({stored.certificate_number}): {view.state}"))


def _write_pdf(view: RequestView, out: Path | None) -> None:
    if out is not None and view.status is RequestStatus.ISSUED:
        render_certificate_pdf(document_of(view.stored), out)
        console.print(f"copy written to {out}")


@app.command("request")
def request(
    lg_code: LgCode,
    home: Annotated[str, typer.Option("--home", help="the person's home municipality")],
    requester: Annotated[str, typer.Option(help="the requester's resident code")],
    name: Annotated[str, typer.Option(help="the name on the photo ID")],
    birth_date: Annotated[str, typer.Option(help="the date of birth on the photo ID")],
    id_document: Annotated[str, typer.Option(help="the photo ID shown (e.g. 運転免許証)")],
    subject: Annotated[
        list[str] | None,
        typer.Option(help="a person on the copy (repeat; default: the requester)"),
    ] = None,
    include_household: Annotated[
        bool, typer.Option(help="print the household head and the relationship")
    ] = False,
    include_resident_code: Annotated[bool, typer.Option(help="print the resident code")] = False,
    out: Out = None,
) -> None:
    """Take a request; the home municipality is asked at once. When it answers the copy is
    issued (``--out`` writes it); when it cannot be reached the request stays pending."""
    wanted = WideAreaRequest(
        home_lg_code=home,
        requester=Requester(requester, name, require_date(birth_date, "birth_date")),
        subject_codes=tuple(subject or ()),
        options=Options(include_household, include_resident_code),
        identity_document=id_document,
    )
    with network(lg_code) as net:
        service = _service(net, lg_code)
        number = service.request(wanted, ACTOR).stored.id
        net.drain()
        view = service.view(number)
    _print(view)
    _write_pdf(view, out)


@app.command("show")
def show(number: Number, lg_code: LgCode, out: Out = None) -> None:
    """Where a request stands (pending: whether the home municipality was reached)."""
    with network(lg_code) as net:
        net.drain()
        view = _service(net, lg_code).view(number)
    _print(view)
    _write_pdf(view, out)


@app.command("list")
def list_requests(
    lg_code: LgCode,
    status: Annotated[RequestStatus | None, typer.Option(help="only these")] = None,
    limit: int = 50,
) -> None:
    """Requests taken at this municipality, newest first."""
    with network(lg_code) as net:
        net.drain()
        views = _service(net, lg_code).requests(status, limit)
    table = Table("number", "requested at", "home", "requester", "status", "state")
    for view in views:
        stored = view.stored
        table.add_row(
            str(stored.id),
            f"{stored.requested_at:%Y-%m-%d %H:%M}",
            stored.request.home_lg_code,
            stored.request.requester.resident_code,
            stored.status.value,
            escape(view.state),
        )
    console.print(table)


@app.command("cancel")
def cancel(number: Number, lg_code: LgCode) -> None:
    """Withdraw a pending request (a late answer is then ignored)."""
    with network(lg_code) as net:
        view = _service(net, lg_code).cancel(number, ACTOR)
    _print(view)


@app.command("fee")
def fee(
    lg_code: LgCode,
    set_to: Annotated[int | None, typer.Option("--set", help="new fee in yen")] = None,
) -> None:
    """Show (or set) the fee recorded with each copy issued here."""
    with network(lg_code) as net:
        service = _service(net, lg_code)
        if set_to is not None:
            service.set_fee(set_to, ACTOR)
        amount = service.fee()
    console.print(f"{lg_code}: ¥{amount} a copy")

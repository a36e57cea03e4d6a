"""``jukinet disclosure``: disclosure requests (本人確認情報の開示請求) at the national center
(``--office national``, the default) or a prefecture (``--office 13``) of the embedded network
under JUKINET_HOME: intake, decision, delivery, the letters, the overdue list, corrections.

Whoever runs these commands on the node's host acts as its disclosure desk; each step is
recorded in the office's audit log with actor ``operator:cli``. A rule broken is one line
naming the field and the rule, exit status 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from jukinet.clock import today_in_japan
from jukinet.domain.disclosure import (
    Channel,
    CorrectionItem,
    CorrectionOutcome,
    Decision,
    DisclosureForm,
    EvidenceKind,
    RefusalReason,
    Representation,
    RequesterKind,
    RequestState,
    days_overdue,
    parse_office,
)
from jukinet.domain.eras import format_era_date
from jukinet.interfaces.cli.common import (
    clock,
    console,
    console_err,
    network,
    parse_date,
    require_date,
)
from jukinet.nodes.roles import national_center_of
from jukinet.services.disclosure import (
    DisclosureService,
    StoredRequest,
    disclosure_service,
)

app = typer.Typer(
    help="Disclosure requests (本人確認情報の開示請求): intake, decision, delivery, letters.",
    no_args_is_help=True,
)
correction_app = typer.Typer(
    help="Correction requests after a disclosure: request, answer, letter.", no_args_is_help=True
)
app.add_typer(correction_app, name="correction")

ACTOR = "operator:cli"

Office = Annotated[
    str, typer.Option("--office", help="national, or a 2-digit prefecture code (e.g. 13)")
]
RequestId = Annotated[int, typer.Argument(help="the request's number at the office")]
DateOpt = Annotated[
    str | None, typer.Option("--date", help="the day of the step (ISO or 和暦); default today")
]


@contextmanager
def _desk(office: str) -> Iterator[DisclosureService]:
    parsed = parse_office(office, "--office")
    with network() as net:
        yield disclosure_service(
            parsed,
            clock(),
            national_engine=net.national.engine,
            national_files=net.national.files,
            prefectural_engine=net.prefecture.engine,
            national_center=national_center_of(net.prefecture),
        )


def _line(r: StoredRequest) -> str:
    """One line about a request: number, state, deadline, decision."""
    text = (
        f"request {r.id} ({r.office}): {r.state.value}, received {r.received_on.isoformat()} "
        f"({format_era_date(r.received_on)}) by {r.request_method.value}, "
        f"decision due {r.due_on.isoformat()}" + ("" if r.extension is None else " (extended)")
    )
    if r.decision is not None and r.decided_on is not None:
        text += f"; {r.decision.value} on {r.decided_on.isoformat()}"
        if r.refusal_reasons:
            text += " (" + ", ".join(x.value for x in r.refusal_reasons) + ")"
        if r.decided_on > r.due_on:
            text += " [late]"
    if r.delivered_on is not None:
        text += f"; delivered by {r.delivery_method.value} on {r.delivered_on.isoformat()}"
    return text


@app.command("intake")
def intake(
    received: Annotated[
        str, typer.Option("--received", help="the day the request was made or arrived by mail")
    ],
    resident_code: Annotated[str, typer.Option("--resident-code", help="the person's code")],
    name: Annotated[str, typer.Option("--name", help="the person's name")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="the person's date of birth")],
    request_method: Annotated[
        Channel, typer.Option("--request-method", help="how the request came")
    ] = Channel.VISIT,
    delivery: Annotated[
        Channel, typer.Option("--delivery", help="how the answer is to be received")
    ] = Channel.VISIT,
    requester: Annotated[
        RequesterKind, typer.Option("--requester", help="who asks")
    ] = RequesterKind.PERSON,
    requester_name: Annotated[
        str | None, typer.Option("--requester-name", help="default: the person's name")
    ] = None,
    requester_address: Annotated[
        str | None, typer.Option("--requester-address", help="where an answer by mail goes")
    ] = None,
    representation: Annotated[
        Representation | None,
        typer.Option("--representation", help="a legal representative's standing"),
    ] = None,
    evidence: Annotated[
        list[EvidenceKind] | None,
        typer.Option("--evidence", help="a document shown or enclosed (repeat the option)"),
    ] = None,
    office: Office = "national",
) -> None:
    """Record a request as received; one with formal defects is recorded and refused."""
    with _desk(office) as desk:
        form = DisclosureForm(
            office=desk.office,
            received_on=require_date(received, "--received"),
            request_method=request_method,
            delivery_method=delivery,
            requester_kind=requester,
            requester_name=name if requester_name is None else requester_name,
            subject_resident_code=resident_code,
            subject_name=name,
            subject_birth_date=require_date(birth_date, "--birth-date"),
            evidence=frozenset(evidence or ()),
            requester_address=requester_address,
            representation=representation,
        )
        stored = desk.intake(form, actor=ACTOR)
    console.print(escape(_line(stored)))
    if stored.decision is Decision.REFUSE:
        console.print(
            "refused at intake: " + escape(", ".join(r.label_ja for r in stored.refusal_reasons))
        )


@app.command("decide")
def decide(
    request_id: RequestId,
    decision: Annotated[Decision, typer.Option("--decision", help="disclose or refuse")],
    reason: Annotated[
        list[RefusalReason] | None,
        typer.Option("--reason", help="a refusal reason (repeat the option)"),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="explains a refusal")] = None,
    day: DateOpt = None,
    office: Office = "national",
) -> None:
    """Disclose (the record, its history and its provisions are fixed now) or refuse."""
    with _desk(office) as desk:
        stored = desk.decide(
            request_id,
            decision,
            actor=ACTOR,
            reasons=reason or (),
            note=note,
            on=parse_date(day, "--date"),
        )
    console.print(escape(_line(stored)))
    if stored.content is not None:
        provisions = stored.content.provisions
        shown = "not held here" if provisions is None else f"{len(provisions)} provisions"
        console.print(f"disclosed: {len(stored.content.history)} versions, {shown}")


@app.command("extend")
def extend(
    request_id: RequestId,
    until: Annotated[str, typer.Option("--until", help="the new deadline for the decision")],
    reason: Annotated[str, typer.Option("--reason", help="why it cannot be decided in time")],
    day: Annotated[
        str | None, typer.Option("--date", help="the day the requester is notified; default today")
    ] = None,
    office: Office = "national",
) -> None:
    """Extend the decision period (notified in writing within the 14 days: `extension-notice`)."""
    with _desk(office) as desk:
        stored = desk.extend(
            request_id,
            require_date(until, "--until"),
            reason,
            actor=ACTOR,
            on=parse_date(day, "--date"),
        )
    console.print(escape(_line(stored)))


@app.command("extension-notice")
def extension_notice(
    request_id: RequestId,
    out: Annotated[Path | None, typer.Option("--out", help="the PDF (default: a name)")] = None,
    office: Office = "national",
) -> None:
    """The extension notice as a PDF (本人確認情報開示決定期限延長通知書)."""
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415 (slow to import)
        extension_notice,
        render_pdf,
    )

    with _desk(office) as desk:
        stored = desk.get(request_id)
        target = out or Path(f"extension_{stored.office}_{request_id}.pdf")
        render_pdf(extension_notice(stored, desk.office), target)
    console_err.print(f"extension notice written to {escape(str(target))}")


@app.command("ask-provisions")
def ask_provisions(
    request_id: RequestId,
    office: Annotated[str, typer.Option("--office", help="the prefecture's 2-digit code")],
) -> None:
    """Ask the national center again for the person's provisions (a prefecture's request
    still awaiting its decision); the earlier question's answer is then ignored."""
    with _desk(office) as desk:
        stored = desk.ask_provisions(request_id, actor=ACTOR)
    console.print(escape(_line(stored)))


@app.command("deliver")
def deliver(request_id: RequestId, day: DateOpt = None, office: Office = "national") -> None:
    """Record the decision notice as handed over (visit) or mailed."""
    with _desk(office) as desk:
        stored = desk.deliver(request_id, actor=ACTOR, on=parse_date(day, "--date"))
    console.print(escape(_line(stored)))


@app.command("show")
def show(
    request_id: RequestId,
    as_json: Annotated[bool, typer.Option("--json", help="the request as JSON")] = False,
    office: Office = "national",
) -> None:
    """A request, its decision, the disclosed content and its corrections."""
    with _desk(office) as desk:
        stored = desk.get(request_id)
        question = desk.question_state(stored)
    if as_json:
        typer.echo(json.dumps(_as_json(stored, question), ensure_ascii=False, indent=2))
        return
    console.print(escape(_line(stored)))
    who = f"{stored.requester_kind.label_ja} {stored.requester_name}"
    console.print(escape(f"requester: {who}; evidence: {', '.join(sorted(stored.evidence))}"))
    if question is not None:
        console.print(escape(f"provision history: {question}"))
    content = stored.content
    if content is not None:
        r = content.record
        console.print(
            escape(
                f"record: {r.resident_code} {r.name} {format_era_date(r.birth_date)} "
                f"{r.address} ({r.change_reason} {r.change_date.isoformat()})"
            )
        )
        if content.provisions is None:
            console.print(escape(content.provisions_note or ""))
        else:
            table = Table("provided on", "recipient", "affair", "method", "case reference")
            for p in content.provisions:
                table.add_row(
                    p.provided_on.isoformat(),
                    escape(p.recipient),
                    escape(p.affair_id),
                    p.method,
                    escape(p.case_reference),
                )
            console.print(table)
    for c in stored.corrections:
        answer = "" if c.outcome is None else f" -> {c.outcome.value}: {c.findings}"
        console.print(escape(f"correction {c.id}: {c.item.value} '{c.claimed}' {c.state}{answer}"))


def _as_json(r: StoredRequest, question: str | None) -> dict[str, object]:
    return {
        "id": r.id,
        "office": r.office,
        "state": r.state.value,
        "received_on": r.received_on.isoformat(),
        "due_on": r.due_on.isoformat(),
        "request_method": r.request_method.value,
        "delivery_method": r.delivery_method.value,
        "requester_kind": r.requester_kind.value,
        "requester_name": r.requester_name,
        "resident_code": r.subject_resident_code,
        "evidence": sorted(r.evidence),
        "decision": None if r.decision is None else r.decision.value,
        "refusal_reasons": [x.value for x in r.refusal_reasons],
        "decided_on": None if r.decided_on is None else r.decided_on.isoformat(),
        "delivered_on": None if r.delivered_on is None else r.delivered_on.isoformat(),
        "content": None if r.content is None else r.content.to_dict(),
        "provisions_question": question,
        "corrections": [
            {"id": c.id, "item": c.item.value, "state": c.state.value, "outcome": c.outcome}
            for c in r.corrections
        ],
    }


@app.command("list")
def list_requests(
    state: Annotated[RequestState | None, typer.Option("--state")] = None,
    office: Office = "national",
) -> None:
    """The office's requests, oldest first."""
    with _desk(office) as desk:
        found = desk.requests(state)
    for r in found:
        console.print(escape(_line(r)))


@app.command("overdue")
def overdue(
    day: Annotated[
        str | None, typer.Option("--date", help="the day to judge by; default today")
    ] = None,
    office: Office = "national",
) -> None:
    """Requests still undecided after their deadline (14 days), oldest deadline first."""
    with _desk(office) as desk:
        on = parse_date(day, "--date") or today_in_japan(desk.clock)
        found = desk.overdue(on)
    if not found:
        console.print(f"no overdue request on {on.isoformat()}")
        return
    table = Table("request", "received", "due", "days overdue", "method")
    for o in found:
        r = o.request
        table.add_row(
            str(r.id),
            r.received_on.isoformat(),
            r.due_on.isoformat(),
            str(days_overdue(r.state, r.due_on, on)),
            r.request_method.value,
        )
    console.print(table)


@app.command("letter")
def letter(
    request_id: RequestId,
    out: Annotated[Path | None, typer.Option("--out", help="the PDF (default: a name)")] = None,
    office: Office = "national",
) -> None:
    """The decision notice as a PDF: disclosure (開示決定通知書) or refusal (不開示決定通知書)."""
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415 (slow to import)
        decision_notice,
        render_pdf,
    )

    with _desk(office) as desk:
        stored = desk.get(request_id)
        target = out or Path(f"disclosure_{stored.office}_{request_id}.pdf")
        render_pdf(decision_notice(stored, desk.office), target)
    console_err.print(f"letter written to {escape(str(target))}")


@correction_app.command("request")
def correction_request(
    request_id: RequestId,
    item: Annotated[CorrectionItem, typer.Option("--item", help="the item said to be wrong")],
    claimed: Annotated[str, typer.Option("--claimed", help="what it should read")],
    day: DateOpt = None,
    office: Office = "national",
) -> None:
    """Record a correction request after a delivered disclosure."""
    with _desk(office) as desk:
        c = desk.request_correction(
            request_id, item, claimed, actor=ACTOR, on=parse_date(day, "--date")
        )
    console.print(f"correction {c.id} of request {request_id}: {c.item.value} {c.state.value}")


@correction_app.command("answer")
def correction_answer(
    request_id: RequestId,
    correction_id: Annotated[int, typer.Argument(help="the correction's number")],
    outcome: Annotated[CorrectionOutcome, typer.Option("--outcome")],
    findings: Annotated[str, typer.Option("--findings", help="what the investigation found")],
    day: DateOpt = None,
    office: Office = "national",
) -> None:
    """Record the written answer to a correction request."""
    with _desk(office) as desk:
        c = desk.answer_correction(
            request_id, correction_id, outcome, findings, actor=ACTOR, on=parse_date(day, "--date")
        )
    console.print(f"correction {c.id} of request {request_id}: {c.state.value} ({outcome.value})")


@correction_app.command("letter")
def correction_letter(
    request_id: RequestId,
    correction_id: Annotated[int, typer.Argument(help="the correction's number")],
    out: Annotated[Path | None, typer.Option("--out", help="the PDF (default: a name)")] = None,
    office: Office = "national",
) -> None:
    """The answer to a correction request as a PDF."""
    from jukinet.interfaces.documents.disclosure import (  # noqa: PLC0415
        correction_notice,
        render_pdf,
    )

    with _desk(office) as desk:
        stored = desk.get(request_id)
        c = desk.correction(request_id, correction_id)
        target = out or Path(f"correction_{stored.office}_{request_id}_{correction_id}.pdf")
        render_pdf(correction_notice(stored, c, desk.office), target)
    console_err.print(f"letter written to {escape(str(target))}")

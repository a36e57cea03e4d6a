"""Fuzz the whole HTTP API from its own OpenAPI document (schemathesis on Hypothesis), proving the
rule "bad input gets a clear error that names the field or line": for requests generated to
every operation, valid and invalid per the schema, the server never answers 5xx, and a 4xx is
``application/problem+json`` with the keys the project's problems carry (``title``, the same
``status``; the ``rule`` of a refusal or invalid input).

Requests come from three kinds of caller: nobody (every protected operation answers 401
``not_authenticated``), operators whose role and organisation reach the operation (its tenant
path parameter pinned to theirs, so requests get past authorisation into the handlers), and
recipients with their bearer keys. The test client re-raises a server error, so a failure shows
the exception with the request that caused it; every failing operation is listed at once.

Every node's database and the operator directory run on SQLite and on PostgreSQL: PostgreSQL
refuses what SQLite stores (NUL characters, integers beyond BIGINT), where the fuzz found its
500s. Bounded for CI: a few examples per operation, derandomized (the same requests every run),
no example database.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Err
from sqlalchemy import Engine

from jukinet.clock import FixedClock
from jukinet.domain.affairs import RecipientKind
from jukinet.domain.operators import Role
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.national.provision import ProvisionService
from tests.conftest import postgres_schema_per_node
from tests.support.disclosure import DISCLOSURE_INTAKE
from tests.support.operators import add_card_operator, log_in, login_of, operator_directory
from tests.support.provision import PENSION, register_one_resident

CLOCK = FixedClock(datetime(2014, 3, 31, 1, 0, tzinfo=UTC))
LG_CODE = "131016"
HOME = f"municipality/{LG_CODE}"
NATIONAL = "national"
WIDE_AREA = f"/municipalities/{LG_CODE}/wide-area-certificates"
CERTIFICATE_AUTHORITY = "公的個人認証サービス"
PROBLEM = "application/problem+json"
RULED = frozenset({401, 403, 422})
"""Statuses whose problem names its rule: a refusal (who are you, not allowed) or bad input."""

PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/login"),
        ("POST", "/auth/webauthn/login/options"),
        ("POST", "/auth/webauthn/login"),
        ("POST", "/auth/webauthn/register/options"),
        ("POST", "/auth/webauthn/register"),
        ("POST", "/auth/legacy/login"),
        ("POST", "/network/messages"),
    }
)
"""Operations anyone may call (test_authorisation_matrix holds the full list): fuzzed only
anonymously, as a session changes nothing for them. The WebAuthn ceremonies are fuzzed too:
a made-up ceremony or credential must be refused as cleanly as any other bad input."""

RECIPIENT_PATHS = ("/provision/", "/revocation-feed")
"""Recipients' operations: a bearer key (or a signed request), never an operator session."""

EXCLUDED = {
    ("GET", "/metrics"): "no input to fuzz; Prometheus text, not the API's JSON or problems",
}
"""Operations not fuzzed at all, and why."""

ANONYMOUS_ONLY = {
    ("POST", "/auth/logout"): "it would end the session the other operations are fuzzed with; "
    "it takes no input but the cookie",
}
"""Protected operations fuzzed only without a session, and why."""

# A handful of requests suffices where authentication answers before anything is read.
ANONYMOUS_EXAMPLES = 5
EXAMPLES = 20


class Answer(Protocol):
    """What the checks read of a TestClient response (httpx or httpx2, by Starlette version)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


Expectation = Callable[[Answer], str | None]
"""What an answer must also satisfy for a caller: None, or what is wrong with it."""


Operation = APIOperation[Any, Any, Any, Any]


@dataclass(frozen=True)
class Caller:
    """Who sends the generated requests: a test client with an operator's session cookie
    (``session``) or none, extra headers, path parameters pinned to the caller's organisation,
    and what its answers must also satisfy."""

    name: str
    client: TestClient
    session: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)
    expect: Expectation | None = None


# --- checks ---------------------------------------------------------------------------------


def wrong_with(answer: Answer) -> str | None:
    """What breaks the rule in ``answer``, or None: no 5xx; a 4xx is a problem document whose
    status is the response's, with a title, and with the rule of a refusal or invalid input."""
    status = answer.status_code
    if status < 400:
        return None
    if status >= 500:
        return f"server error {status}"
    media_type = answer.headers.get("content-type", "")
    if media_type != PROBLEM:
        return f"{status} answered as {media_type!r}, not {PROBLEM}"
    body = answer.json()
    if not isinstance(body, dict):
        return f"{status} problem that is not an object: {body!r}"
    faults = (
        (not isinstance(body.get("title"), str), "without a title"),
        (body.get("status") != status, f"saying status {body.get('status')!r}"),
        (status in RULED and not isinstance(body.get("rule"), str), "naming no rule"),
    )
    return next((f"{status} problem {fault}: {body!r}" for bad, fault in faults if bad), None)


def refused_anonymous(answer: Answer) -> str | None:
    """An operator's operation without a session: 401 ``not_authenticated``, unless the body is
    not JSON at all (FastAPI parses a body before it runs the authentication dependency)."""
    rule = answer.json().get("rule") if answer.status_code >= 400 else None
    if (answer.status_code, rule) in {(401, "not_authenticated"), (422, "json_invalid")}:
        return None
    return f"anonymous caller got {answer.status_code} {rule!r}, not 401 not_authenticated"


def refused_unauthenticated(answer: Answer) -> str | None:
    """A recipient's operation without a valid credential: 401, whatever the rule (generated
    signature headers are refused as malformed, made-up keys as unknown)."""
    if answer.status_code == 401:
        return None
    return f"unauthenticated recipient got {answer.status_code}, not 401"


# --- fuzzing --------------------------------------------------------------------------------


def send(caller: Caller, case: Case[Operation]) -> Answer:
    """The generated request, through the caller's test client (and its cookies)."""
    request = case.as_transport_kwargs(base_url=str(caller.client.base_url), headers=caller.headers)
    cookies = request.pop("cookies", None)
    assert not cookies, "the API declares no cookie parameter: the session cookie is the client's"
    if "data" in request:  # a raw (or deliberately malformed) body: httpx calls it content
        request["content"] = request.pop("data")
    answer: Answer = caller.client.request(**request)
    return answer


def _text_slots(value: object) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every text value in a generated body or query."""
    items: Iterable[tuple[Any, object]] = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            yield value, key
        else:
            yield from _text_slots(item)


def with_nul(drawn: tuple[Case[Operation], int]) -> Case[Operation]:
    """The case with a NUL character in one text value of its body or query: valid per the
    schema, but text PostgreSQL cannot store (SQLite does), which plain generation seldom
    produces. (A NUL in each path parameter: the sweep of the test of what the fuzz found.)"""
    case, pick = drawn
    body, query = copy.deepcopy(case.body), copy.deepcopy(case.query)
    slots = [*_text_slots(body), *_text_slots(query)]
    if slots:
        container, key = slots[pick % len(slots)]
        container[key] += "\x00"
        case.body, case.query = body, query
    return case


def fuzz(operation: Operation, caller: Caller, examples: int) -> str | None:
    """Run ``examples`` generated requests at ``operation`` (valid, invalid, and valid but for a
    NUL character); None, or the failure with the request Hypothesis shrank it to."""
    pinned = {k: v for k, v in caller.path.items() if f"{{{k}}}" in operation.path} or None
    positive = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned)
    cases = st.one_of(
        positive,
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=pinned),
        st.tuples(positive, st.integers(min_value=0, max_value=63)).map(with_nul),
    )

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much),
    )
    @given(case=cases)
    def requests(case: Case[Operation]) -> None:
        if not caller.session:
            caller.client.cookies.clear()  # a fuzzed login must not turn nobody into somebody
        note(case.as_curl_command(caller.headers, base_url=str(caller.client.base_url)))
        answer = send(caller, case)
        wrong = wrong_with(answer)
        if wrong is None and caller.expect is not None:
            wrong = caller.expect(answer)
        assert wrong is None, wrong

    try:
        requests()
    except Exception as exc:  # every failing operation is reported, not only the first
        notes = "\n".join(getattr(exc, "__notes__", []))
        return f"{operation.label} as {caller.name}: {type(exc).__name__}: {exc}\n{notes}"
    return None


def operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app's own OpenAPI document but the excluded ones."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    found: list[Operation] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the document describes unusably
        found.append(result.ok())
    return [op for op in found if (op.method.upper(), op.path) not in EXCLUDED]


def is_recipients(operation: Operation) -> bool:
    return operation.path.startswith(RECIPIENT_PATHS)


def is_public(operation: Operation) -> bool:
    return (operation.method.upper(), operation.path) in PUBLIC


def operator_for(path: str) -> tuple[str, Role]:
    """The organisation and role whose operator reaches ``path`` (the authorisation matrix
    says who may call what)."""
    if path.startswith("/municipalities/{lg_code}/wide-area-certificates"):
        return HOME, Role.CERTIFICATE_CLERK
    if path.startswith("/municipalities/"):
        return HOME, Role.REGISTRAR
    if path.startswith("/operators"):
        return HOME, Role.ADMINISTRATOR
    if path in {"/", "/network/status"} or path.endswith(("/overdue", "/statistics")):
        return NATIONAL, Role.AUDITOR
    if path.startswith("/disclosures/"):
        return NATIONAL, Role.DISCLOSURE_OFFICER
    return HOME, Role.REGISTRAR  # the operator's own session and page: any operator


OPERATORS = (
    (HOME, Role.REGISTRAR),
    (HOME, Role.CERTIFICATE_CLERK),
    (HOME, Role.ADMINISTRATOR),
    (NATIONAL, Role.DISCLOSURE_OFFICER),
    (NATIONAL, Role.AUDITOR),
)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def network(
    engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[EmbeddedNetwork]:
    """Every node's database of the engine's kind (one PostgreSQL schema per node)."""
    database_url = None
    if engine.dialect.name == "postgresql":
        database_url = postgres_schema_per_node(request.getfixturevalue("postgres_url"))
    net = build_embedded(tmp_path / "var", CLOCK, [LG_CODE], database_url=database_url)
    register_one_resident(net)  # something to find, so reads go past "not found"
    yield net
    net.dispose()


@pytest.fixture
def app(network: EmbeddedNetwork, engine: Engine, tmp_path: Path) -> FastAPI:
    municipality = network.municipality(LG_CODE)
    application = create_app(
        services_of(
            network.nodes,
            CLOCK,
            dict(municipality.registers),
            dict(municipality.certificates),
            cards=dict(municipality.cards),
            card_moves=dict(municipality.card_moves),
        )
    )
    directory = operator_directory(CLOCK, engine, home=tmp_path)
    for org, role in OPERATORS:
        add_card_operator(directory, org, role)
    install_operator_service(application, directory)
    return application


@pytest.fixture
def bearer_keys(network: EmbeddedNetwork) -> dict[str, str]:
    """``Authorization`` headers of a recipient of provisions and of a certificate authority."""
    provision = ProvisionService(network.national.engine, CLOCK)
    provision.add_recipient(CERTIFICATE_AUTHORITY, RecipientKind.CERTIFICATE_AUTHORITY.value)
    return {
        "/provision/": f"Bearer {provision.issue_key(PENSION)}",
        "/revocation-feed": f"Bearer {provision.issue_key(CERTIFICATE_AUTHORITY)}",
    }


WIDE_AREA_REQUEST = {
    "home_lg_code": "131130",  # not hosted here: pending for good
    "requester_resident_code": "24727059608",
    "requester_name": "鈴木　一郎",
    "requester_birth_date": "1950-05-05",
    "identity_document": "運転免許証",
}
CARD_MOVE_IN = {
    "former_lg_code": "131130",  # not hosted here: pending for good
    "card_number": "1311300000000001",
    "pin": "1234",
    "holder_resident_code": "24727059608",
    "new_address": "東京都千代田区1番",
    "moved_on": "2014-03-30",
}

Clients = dict[tuple[str, Role], TestClient]


@pytest.fixture
def clients(app: FastAPI) -> Clients:
    """A test client per operator, logged in (before any fuzzed login could lock anything),
    and request 1 of each kind taken, so generated ids also name something that exists."""
    logged_in: Clients = {}
    for org, role in OPERATORS:
        logged_in[org, role] = TestClient(app)
        log_in(logged_in[org, role], org, role)
    taken = (
        ((HOME, Role.CERTIFICATE_CLERK), WIDE_AREA, WIDE_AREA_REQUEST, 202),
        (
            (NATIONAL, Role.DISCLOSURE_OFFICER),
            "/disclosures/national/requests",
            DISCLOSURE_INTAKE,
            201,
        ),
        ((HOME, Role.REGISTRAR), f"/municipalities/{LG_CODE}/card-move-ins", CARD_MOVE_IN, 202),
    )
    for who, path, body, status in taken:
        answer = logged_in[who].post(path, json=body)
        assert answer.status_code == status, answer.text
    return logged_in


# --- the tests ------------------------------------------------------------------------------


def test_generated_requests_get_problems_never_server_errors(
    app: FastAPI, clients: Clients, bearer_keys: dict[str, str]
) -> None:
    nobody = TestClient(app)
    failures: list[str] = []
    fuzzed = 0
    for operation in operations(app):
        key = (operation.method.upper(), operation.path)
        if is_public(operation):
            failures.append(fuzz(operation, Caller("nobody", nobody), EXAMPLES) or "")
            fuzzed += 1
            continue
        anonymous = refused_unauthenticated if is_recipients(operation) else refused_anonymous
        caller = Caller("nobody", nobody, expect=anonymous)
        failures.append(fuzz(operation, caller, ANONYMOUS_EXAMPLES) or "")
        if is_recipients(operation):
            prefix = next(p for p in bearer_keys if operation.path.startswith(p))
            headers = {"Authorization": bearer_keys[prefix]}
            recipient = Caller(f"recipient {prefix}", TestClient(app), headers=headers)
            failures.append(fuzz(operation, recipient, EXAMPLES) or "")
        elif key not in ANONYMOUS_ONLY:
            org, role = operator_for(operation.path)
            pinned = {"lg_code": LG_CODE, "office": "national"}
            who = f"{role.value} of {org}"
            operator = Caller(who, clients[org, role], session=True, path=pinned)
            failures.append(fuzz(operation, operator, EXAMPLES) or "")
        fuzzed += 1
    assert fuzzed == 52, "an operation was added or removed: decide how it is fuzzed"
    problems = [f for f in failures if f]
    assert not problems, "\n\n".join(problems)


BEYOND_BIGINT = str(2**63)
NUL = "\x00"


@dataclass(frozen=True)
class Found:
    """A request like one the fuzz answered with a 500 or a problem naming no rule, and the rule
    and field of the 422 it gets now."""

    who: tuple[str, Role] | str | None  # an operator, a recipient's path prefix, or nobody
    method: str
    path: str
    request: dict[str, Any]
    rule: str
    field: str


REGISTRAR = (HOME, Role.REGISTRAR)
CLERK = (HOME, Role.CERTIFICATE_CLERK)
OFFICER = (NATIONAL, Role.DISCLOSURE_OFFICER)
ANSWER = {"outcome": "corrected", "findings": "x"}
NOT_UTF8 = {"content": b'{"card_number": "\x8c"}', "headers": {"Content-Type": "application/json"}}
FOUND = [
    # ids beyond BIGINT: OverflowError on SQLite, "bigint out of range" on PostgreSQL
    Found(CLERK, "GET", f"{WIDE_AREA}/{BEYOND_BIGINT}", {}, "less_than_equal", "number"),
    Found(
        OFFICER,
        "POST",
        f"/disclosures/national/requests/1/corrections/{BEYOND_BIGINT}/answer",
        {"json": ANSWER},
        "less_than_equal",
        "correction_id",
    ),
    Found(
        "/revocation-feed",
        "GET",
        "/revocation-feed",
        {"params": {"after": BEYOND_BIGINT}},
        "less_than_equal",
        "after",
    ),
    # NUL characters: PostgreSQL cannot store them (SQLite did)
    Found(
        REGISTRAR,
        "GET",
        f"/municipalities/{LG_CODE}/residents",
        {"params": {"name": NUL}},
        "nul_character",
        "name",
    ),
    Found(
        REGISTRAR,
        "POST",
        f"/municipalities/{LG_CODE}/card-move-ins",
        {"json": {**CARD_MOVE_IN, "new_address": NUL}},
        "nul_character",
        "new_address",
    ),
    Found(
        REGISTRAR,
        "GET",
        f"/municipalities/{LG_CODE}/card-move-ins/a%00",
        {},
        "nul_character",
        "request_id",
    ),
    Found(
        CLERK,
        "POST",
        WIDE_AREA,
        {"json": {**WIDE_AREA_REQUEST, "requester_name": NUL}},
        "nul_character",
        "requester_name",
    ),
    Found(
        OFFICER,
        "POST",
        "/disclosures/national/requests",
        {"json": {**DISCLOSURE_INTAKE, "requester_address": NUL}},
        "nul_character",
        "requester_address",
    ),
    Found(
        None,
        "POST",
        "/auth/webauthn/login/options",
        {"json": {"login": NUL}},
        "nul_character",
        "login",
    ),
    Found(
        None,
        "POST",
        "/auth/webauthn/login",
        {"json": {"ceremony_id": NUL, "credential": {}}},
        "nul_character",
        "ceremony_id",
    ),
    Found(
        None,
        "POST",
        "/auth/legacy/login",
        {"json": {"card_number": NUL, "password": "x"}},
        "nul_character",
        "card_number",
    ),
    Found(
        "/provision/",
        "POST",
        "/provision/immediate",
        {"json": {"affair_id": NUL, "case_reference": "c"}},
        "nul_character",
        "affair_id",
    ),
    Found("/provision/", "GET", "/provision/batch/a%00", {}, "nul_character", "job_id"),
    # a JSON body that is not UTF-8: FastAPI's 400 naming no rule, now invalid JSON as any other
    Found(None, "POST", "/auth/legacy/login", NOT_UTF8, "json_invalid", "17"),
]


VALID_PATH = {
    "lg_code": LG_CODE,
    "office": "national",
    "resident_code": "24727059608",
    "card_number": "1310169999999999",
    "request_id": "1",
    "correction_id": "1",
    "number": "1",
    "login": login_of(HOME, Role.REGISTRAR),
    "job_id": "1",
}
"""A value each path parameter may take, for the sweep putting a NUL in one of them."""


def test_what_the_fuzz_found_is_refused_as_bad_input(
    app: FastAPI, clients: Clients, bearer_keys: dict[str, str]
) -> None:
    """Requests like those the fuzz answered with a 500 or a problem naming no rule (before the
    fixes, or run longer), pinned, as the bounded fuzz need not draw them again; and a NUL in
    each path parameter of every operation (the fuzz puts NULs in bodies and queries only)."""
    nobody = TestClient(app)
    wrong: list[str] = []
    for found in FOUND:
        client, headers = nobody, dict(found.request.get("headers", {}))
        if isinstance(found.who, tuple):
            client = clients[found.who]
        elif isinstance(found.who, str):
            headers["Authorization"] = bearer_keys[found.who]
        answer = client.request(found.method, found.path, **{**found.request, "headers": headers})
        problem = answer.json() if answer.headers["content-type"] == PROBLEM else {}
        got = (answer.status_code, problem.get("rule"), problem.get("field"))
        if got != (422, found.rule, found.field):
            wrong.append(f"{found.method} {found.path}: {got}")
    for operation in operations(app):
        names = [p.name for p in operation.path_parameters]
        for name in names:
            path = operation.path.format(
                **{n: "%00" if n == name else VALID_PATH[n] for n in names}
            )
            client, headers = clients[operator_for(operation.path)], {}
            if is_recipients(operation):
                client = nobody
                headers = {
                    "Authorization": next(v for k, v in bearer_keys.items() if path.startswith(k))
                }
            answer = client.request(operation.method.upper(), path, headers=headers)
            fault = wrong_with(answer)
            if fault is not None:
                wrong.append(f"{operation.method.upper()} {path}: {fault}")
    assert not wrong, "\n".join(wrong)


def test_forged_message_headers_are_refused_not_a_server_error(app: FastAPI) -> None:
    """The node-to-node endpoint records a message failing verification with the header it
    claims; a header of the wrong shape failed that record (500 for the whole batch)."""
    forged: list[Any] = [
        {"receiver": "national", "id": {"a": 1}},
        {"receiver": "national", "seq": "abc"},
        {"receiver": "national", "seq": 2**70},
        {"receiver": "national", "id": "x" * 100},
        {"receiver": "national", "sender": f"municipality-{NUL}"},
        ["national"],
    ]
    wires = [
        json.dumps({"payload": base64.b64encode(json.dumps(h).encode()).decode()}) for h in forged
    ]
    answer = TestClient(app).post("/network/messages", json={"messages": [*wires, "[" * 100_000]})
    assert answer.status_code == 200, answer.text
    assert [a["status"] for a in answer.json()["acks"]] == ["refused"] * (len(forged) + 1)

"""Network status (JSON, the Japanese page, gauges) and the ``check`` / ``status`` commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.operators import Role
from jukinet.domain.register import NewEntry
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.cli.app import app as cli
from jukinet.nodes.demo import DEMO_MUNICIPALITIES
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from jukinet.services.operators import OperatorService
from jukinet.store.db import write_transaction
from jukinet.store.tables import national_identity_records, prefectural_identity_records
from tests.support.operators import add_card_operator, log_in, operator_directory

CHIYODA, SHIBUYA, KAMAKURA = DEMO_MUNICIPALITIES
runner = CliRunner()


def birth(name: str) -> NewEntry:
    day = date(2014, 3, 1)
    return NewEntry(ChangeReason.BIRTH, day, name, day, Sex.FEMALE, "東京都千代田区千代田1番1号")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def network(tmp_path: Path, clock: FixedClock) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path / "var", clock, DEMO_MUNICIPALITIES)
    for m in net.municipal:
        m.request_initial_pools()
    net.drain()
    yield net
    net.dispose()


@pytest.fixture
def operators(tmp_path: Path, clock: FixedClock) -> OperatorService:
    service = operator_directory(clock, home=tmp_path)
    for role in Role:
        add_card_operator(service, "national", role)
    add_card_operator(service, f"municipality/{CHIYODA}", Role.ADMINISTRATOR)
    add_card_operator(service, "prefecture/13", Role.AUDITOR)
    return service


def client_of(
    network: EmbeddedNetwork,
    clock: FixedClock,
    operators: OperatorService,
    *,
    national: bool = True,
    as_org: str | None = "national",
    role: Role = Role.AUDITOR,
) -> TestClient:
    """A client of the process (hosting the national node or not), logged in as ``role`` of
    ``as_org`` (None: anonymous)."""
    nodes = network.nodes if national else [m.node for m in network.municipal]
    app = create_app(services_of(nodes, clock))
    install_operator_service(app, operators)
    client = TestClient(app)
    if as_org is not None:
        log_in(client, as_org, role)
    return client


def prefecture_down_with_backlog(network: EmbeddedNetwork, clock: FixedClock) -> None:
    network.transport.down.add("prefecture")
    register = network.municipality(CHIYODA).register(CHIYODA)
    for i in range(3):
        register.record(birth(f"人{i}"))
    network.drain()  # fails: the prefecture is down
    clock.advance(timedelta(minutes=2))
    for node in network.nodes:
        node.send_heartbeats()


# --- HTTP -----------------------------------------------------------------------------------


def test_status_shows_every_node_with_backlog_and_error(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    prefecture_down_with_backlog(network, clock)
    response = client_of(network, clock, operators).get("/network/status")
    assert response.status_code == 200
    nodes = {n["node_id"]: n for n in response.json()["nodes"]}
    assert set(nodes) == {
        "national",
        "prefecture",
        *(f"municipality/{c}" for c in DEMO_MUNICIPALITIES),
    }
    chiyoda = nodes[f"municipality/{CHIYODA}"]
    assert chiyoda["role"] == "municipality"
    assert chiyoda["backlog"] == 3
    assert chiyoda["oldest_pending_age_seconds"] == 120.0
    assert "prefecture is unreachable" in chiyoda["last_error"]
    assert nodes[f"municipality/{SHIBUYA}"]["backlog"] == 0
    assert nodes[f"municipality/{SHIBUYA}"]["last_error"] is None
    assert nodes["prefecture"]["backlog"] == 0
    assert [n["node_id"] for n in response.json()["nodes"]][:2] == ["national", "prefecture"]


def test_status_page_in_japanese(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    prefecture_down_with_backlog(network, clock)
    response = client_of(network, clock, operators, role=Role.ADMINISTRATOR).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="ja">' in page
    assert "<title>ネットワーク稼働状況</title>" in page
    for heading in ("ノード", "種別", "最終受信", "未送信件数", "最古の未送信", "最終エラー"):
        assert f'<th scope="col">{heading}</th>' in page
    assert 'href="/docs"' in page
    assert f"municipality/{CHIYODA}" in page
    assert "2分前" in page
    assert "prefecture is unreachable" in page


def test_only_national_monitors_see_the_status(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    """National administrators and auditors (``network.monitor``); nobody else."""
    for path in ("/network/status", "/"):
        anonymous = client_of(network, clock, operators, as_org=None).get(path)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        for role in Role:
            response = client_of(network, clock, operators, role=role).get(path)
            allowed = role in {Role.ADMINISTRATOR, Role.AUDITOR}
            assert response.status_code == (200 if allowed else 403), (path, role)
            if not allowed:
                assert response.json()["rule"] == "forbidden"
        for org, role in (
            (f"municipality/{CHIYODA}", Role.ADMINISTRATOR),
            ("prefecture/13", Role.AUDITOR),
        ):
            refused = client_of(network, clock, operators, as_org=org, role=role).get(path)
            assert refused.status_code == 403
            assert refused.json()["rule"] == "other_organisation"
            assert "national" in refused.json()["detail"]


def test_node_gauges_on_metrics(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    prefecture_down_with_backlog(network, clock)
    with client_of(network, clock, operators, as_org=None) as client:  # public for the scraper
        text = client.get("/metrics").text
    assert (
        f'jukinet_node_outbox_backlog{{node="municipality/{CHIYODA}",role="municipality"}} 3.0'
        in text
    )
    assert (
        f'jukinet_node_oldest_pending_seconds{{node="municipality/{CHIYODA}",role="municipality"}}'
        " 120.0" in text
    )
    assert 'jukinet_node_outbox_backlog{node="prefecture",role="prefecture"} 0.0' in text


def test_no_national_node_is_a_404_problem(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    client = client_of(network, clock, operators, national=False)
    for path in ("/network/status", "/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["rule"] == "not_hosted"
    assert "jukinet_node_outbox_backlog" not in client.get("/metrics").text


def test_status_routes_declared_in_openapi(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    spec = client_of(network, clock, operators, as_org=None).get("/openapi.json").json()
    assert set(spec["paths"]["/network/status"]["get"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
    }
    assert "text/html" in spec["paths"]["/"]["get"]["responses"]["200"]["content"]
    assert "404" in spec["paths"]["/"]["get"]["responses"]


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "var"


def test_check_consistency_detects_and_repairs(
    network: EmbeddedNetwork, home: Path, clock: FixedClock
) -> None:
    register = network.municipality(CHIYODA).register(CHIYODA)
    codes = [register.record(birth(f"人{i}")).resident_code for i in range(3)]
    network.drain()
    assert runner.invoke(cli, ["check", "consistency"]).exit_code == 0
    with write_transaction(network.prefecture.engine) as conn:
        t = prefectural_identity_records
        conn.execute(delete(t).where(t.c.resident_code == codes[0]))
    with write_transaction(network.national.engine) as conn:
        t = national_identity_records
        conn.execute(update(t).where(t.c.resident_code == codes[1]).values(name="改竄"))

    found = runner.invoke(cli, ["check", "consistency", "--lg-code", CHIYODA])
    assert found.exit_code == 1, found.output
    assert f"{codes[0]}  missing at prefecture, extra at national" in found.stdout
    assert f"{codes[1]}  different at national" in found.stdout
    assert "✗" in found.stdout

    repaired = runner.invoke(cli, ["check", "consistency", "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert f"{CHIYODA}: resent 2 entries" in repaired.stdout
    assert "after repair" in repaired.stdout
    assert runner.invoke(cli, ["check", "consistency"]).exit_code == 0


def test_check_consistency_reports_unresolvable(network: EmbeddedNetwork, home: Path) -> None:
    register = network.municipality(SHIBUYA).register(SHIBUYA)
    code = register.record(birth("鈴木　花子")).resident_code
    assert code is not None  # a birth always draws a code from the pool
    network.drain()
    with write_transaction(network.prefecture.engine) as conn:  # as if never registered
        conn.execute(
            update(prefectural_identity_records)
            .where(prefectural_identity_records.c.resident_code == code)
            .values(lg_code=CHIYODA)
        )
    result = runner.invoke(cli, ["check", "consistency", "--repair", "--lg-code", CHIYODA])
    assert result.exit_code == 1
    assert "1 codes unresolvable" in result.stdout
    assert code in result.stdout


def test_status_command_lists_every_node(
    network: EmbeddedNetwork, home: Path, clock: FixedClock
) -> None:
    network.transport.down.add("prefecture")
    network.municipality(KAMAKURA).register(KAMAKURA).record(birth("佐藤　一郎"))
    network.drain()
    network.dispose()
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    for node_id in ("national", "prefecture", *(f"municipality/{c}" for c in DEMO_MUNICIPALITIES)):
        assert node_id in result.stdout
    line = next(ln for ln in result.stdout.splitlines() if f"municipality/{KAMAKURA}" in ln)
    assert "prefecture is unreachable" in line


def test_a_browser_without_a_session_is_sent_to_the_login_page(
    network: EmbeddedNetwork, clock: FixedClock, operators: OperatorService
) -> None:
    anonymous = client_of(network, clock, operators, as_org=None)
    page = anonymous.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/"
    api = anonymous.get("/network/status", headers={"accept": "application/json"})
    assert api.status_code == 401  # API clients still get the problem document
    assert api.headers["content-type"] == "application/problem+json"

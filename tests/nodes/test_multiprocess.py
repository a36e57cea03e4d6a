"""The production layout: national, prefecture and a municipal host as separate processes over
mutual TLS, each with its own database; a crashed prefecture loses nothing and applies nothing
twice. Also the configuration file, ``jukinet init`` and what a serving node refuses.

The network fixture is module-scoped (starting processes costs seconds); the last test stops it
with SIGTERM, so keep it last.
"""

from __future__ import annotations

import signal
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from jukinet.clock import Clock, FixedClock, SystemClock, today_in_japan
from jukinet.domain.disclosure import Decision, Office
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.register import Event, ItemChange, NewEntry, RegisterEntry, Removal
from jukinet.interfaces.cli.app import app
from jukinet.net.envelope import Envelope, new_message_id, seal
from jukinet.net.http import HttpTransport, peer_url
from jukinet.net.messages import PREFECTURE_NODE, MessageType
from jukinet.net.outbox import Outbox
from jukinet.net.pki import NetworkPKI, NodeCredentials
from jukinet.net.tls import client_ssl_context
from jukinet.net.transport import AckStatus, TransportError
from jukinet.nodes.config import ConfigError, NodeConfig, load_config, parse_config
from jukinet.nodes.serve import FakeClockRefusedError, refuse_fake_clock
from jukinet.services.disclosure import DisclosureService
from jukinet.services.municipal.network import MunicipalLink
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.services.prefectural.provision_history import NationalCenterProvisions
from jukinet.store import provision_log
from jukinet.store import register as register_store
from jukinet.store.db import make_engine, read_transaction, sqlite_url, write_transaction
from jukinet.store.identity_records import NATIONAL, get_current
from jukinet.store.tables import (
    message_rejections,
    national_identity_history,
    outbox,
    prefectural_identity_history,
)
from tests.nodes.procs import (
    NodeProcess,
    configure_network,
    toml_config,
    wait_until,
)
from tests.support.disclosure import form, store_prefectural
from tests.support.provision import national_record

CHIYODA, SHIBUYA = "131016", "131130"
MUNI = [f"municipality/{CHIYODA}", f"municipality/{SHIBUYA}"]


# --- the configuration file ------------------------------------------------------------------

BASE_TOML: dict[str, Any] = {
    "role": "municipality",
    "database_url": "sqlite:///data/node.db",
    "pki_dir": "pki",
    "lg_codes": [CHIYODA],
    "listen": {"port": 9443},
    "peers": {"national": "https://n.example:1", "prefecture": "https://p.example:2"},
}


def config_of(tmp_path: Path, **changes: Any) -> NodeConfig:
    raw = {**BASE_TOML, **changes}
    return parse_config({k: v for k, v in raw.items() if v is not None}, tmp_path / "node.toml")


def test_config_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    assert config.database_url == f"sqlite:///{tmp_path / 'data' / 'node.db'}"
    assert config.pki_dir == tmp_path / "pki"
    assert config.node_ids == [f"municipality/{CHIYODA}"]
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 9443)
    postgres = "postgresql://jukinet@db.example/jukinet"
    assert config_of(tmp_path, database_url=postgres).database_url == postgres


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"colour": "red"}, "colour"),
        ({"role": "village"}, "role"),
        ({"role": None}, "role"),
        ({"database_url": "mysql://x/y"}, "database_url"),
        ({"database_url": "sqlite://"}, "database_url"),
        ({"lg_codes": []}, "lg_codes"),
        ({"lg_codes": ["131017"]}, "lg_codes[0]"),
        ({"lg_codes": [CHIYODA, CHIYODA]}, "lg_codes"),
        ({"role": "prefecture"}, "lg_codes"),
        ({"listen": {"port": 70000}}, "listen.port"),
        ({"listen": {"port": "8443"}}, "listen.port"),
        ({"listen": {"hots": "x"}}, "listen.hots"),
        ({"peers": {"national": "http://n.example"}}, "peers.national"),
        ({"peers": {"nationale": "https://n.example"}}, "peers.nationale"),
        ({"peers": {"national": "https://n.example"}}, "peers"),  # no route to the prefecture
        ({"heartbeat_seconds": 0}, "heartbeat_seconds"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_of(tmp_path, **changes)
    assert err.value.key == key
    assert str(err.value).startswith(f"{tmp_path / 'node.toml'}: {key}: ")


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("role = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_peer_routing_exact_then_role_then_default() -> None:
    peers = {"national": "https://n", "municipality/*": "https://m", "municipality/131130": "s"}
    assert peer_url(peers, "national") == "https://n"
    assert peer_url(peers, "municipality/131016") == "https://m"
    assert peer_url(peers, "municipality/131130") == "s"
    assert peer_url(peers, "prefecture") is None
    assert peer_url({"*": "https://all"}, "prefecture") == "https://all"


def test_production_refuses_a_fake_clock() -> None:
    refuse_fake_clock(SystemClock())
    with pytest.raises(FakeClockRefusedError):
        refuse_fake_clock(FixedClock(datetime(2014, 3, 3, tzinfo=UTC)))


def test_init_is_idempotent_and_never_replaces_the_ca(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    first = runner.invoke(app, ["init", "--home", home, "--node", "national"])
    assert first.exit_code == 0, first.output
    root = (tmp_path / "home" / "pki" / "ca" / "root.pem").read_bytes()
    again = runner.invoke(app, ["init", "--home", home, "--node", "national", "--node", MUNI[0]])
    assert again.exit_code == 0, again.output
    assert "exists" in again.output and "issued" in again.output
    refused = runner.invoke(app, ["init", "--home", home])
    assert refused.exit_code == 1
    assert "refusing to overwrite" in refused.output
    assert (tmp_path / "home" / "pki" / "ca" / "root.pem").read_bytes() == root


def test_serve_refuses_a_config_of_another_role(tmp_path: Path) -> None:
    (tmp_path / "national.toml").write_text(
        toml_config(
            role="national",
            database=tmp_path / "n.db",
            pki_dir=tmp_path / "pki",
            port=1,
            peers={"municipality/*": "https://127.0.0.1:2"},
        )
    )
    result = CliRunner().invoke(
        app, ["serve", "--role", "prefecture", "--config", str(tmp_path / "national.toml")]
    )
    assert result.exit_code == 1
    assert "role: the config is for national, not prefecture" in result.output


# --- three node processes ------------------------------------------------------------------


@dataclass
class Network:
    home: Path
    pki: NetworkPKI
    national: NodeProcess
    prefecture: NodeProcess
    municipal: NodeProcess

    @property
    def processes(self) -> list[NodeProcess]:
        return [self.national, self.prefecture, self.municipal]

    def database(self, name: str) -> Path:
        return self.home / f"{name}.db"

    def credentials(self, node_id: str) -> NodeCredentials:
        return self.pki.credentials(node_id)

    def wait_ready(self, process: NodeProcess) -> None:
        process.wait_ready(self.credentials("national"), self.pki.trust_store())


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    home = tmp_path_factory.mktemp("production")
    processes = configure_network(home, [CHIYODA, SHIBUYA])
    net = Network(
        home,
        NetworkPKI.load(home / "pki"),
        processes["national"],
        processes["prefecture"],
        processes["municipality"],
    )
    try:
        for p in net.processes:
            p.start()
        for p in net.processes:
            net.wait_ready(p)
        yield net
    finally:
        for p in net.processes:
            p.kill()


def _count(engine: Engine, query: Any) -> int:
    with read_transaction(engine) as conn:
        return int(conn.execute(query).scalar_one())


def _pending(engine: Engine) -> int:
    return _count(
        engine, select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
    )


def _changes(
    register: MunicipalRegister, shibuya: MunicipalRegister, today: date
) -> list[tuple[MunicipalRegister, Event, int | None]]:
    """The scripted changes: (register, event, index of the person it concerns or None)."""
    born = today - timedelta(days=1)
    plan: list[tuple[MunicipalRegister, Event, int | None]] = []
    for i in range(30):
        address = f"東京都千代田区千代田{i + 1}番"
        event = NewEntry(ChangeReason.BIRTH, born, f"千代田　{i}子", born, Sex.FEMALE, address)
        plan.append((register, event, None))
        if i % 6 == 0:
            address = f"東京都渋谷区宇田川町{i + 1}番"
            event = NewEntry(ChangeReason.BIRTH, born, f"渋谷　{i}郎", born, Sex.MALE, address)
            plan.append((shibuya, event, None))
    for i in range(10):
        move = ItemChange(ChangeReason.MOVE_WITHIN, today, address=f"東京都千代田区神田{i}番")
        plan.append((register, move, i))
    for i in range(10, 18):
        plan.append((register, Removal(ChangeReason.DEATH, today), i))
    for i in range(12):
        address = f"東京都千代田区丸の内{i + 1}番"
        event = NewEntry(ChangeReason.BIRTH, born, f"丸の内　{i}美", born, Sex.FEMALE, address)
        plan.append((register, event, None))
    return plan


@dataclass(frozen=True)
class Crash:
    at_national: int  # changes the national center had when the prefecture was killed
    forwarding: int  # messages the prefecture had applied but not yet seen acknowledged


def _crash_mid_delivery(
    network: Network, national_db: Engine, prefecture_db: Engine
) -> Crash | None:
    """SIGKILL the prefecture while it holds forwards national has not acknowledged (watched
    for up to 0.1 s after each change), once a few changes are through; None if not caught."""
    history = select(func.count()).select_from(national_identity_history)
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:
        at_national = _count(national_db, history)
        forwarding = _pending(prefecture_db)
        if at_national >= 3 and forwarding > 0:
            network.prefecture.kill()
            return Crash(at_national, forwarding)
    return None


def test_a_crashed_prefecture_loses_nothing_and_applies_nothing_twice(network: Network) -> None:
    clock: Clock = SystemClock()
    municipal_db = make_engine(sqlite_url(network.database("municipality")))
    national_db = make_engine(sqlite_url(network.database("national")))
    prefecture_db = make_engine(sqlite_url(network.database("prefecture")))
    try:
        outbox_ = Outbox()  # the serving process's worker picks the rows up from the database
        links = {
            lg: MunicipalLink(network.credentials(f"municipality/{lg}"), outbox_, clock)
            for lg in (CHIYODA, SHIBUYA)
        }
        registers = {
            lg: MunicipalRegister(municipal_db, lg, clock, notifier=links[lg]) for lg in links
        }
        with write_transaction(municipal_db) as conn:
            for link in links.values():
                link.request_pool_if_low(conn, clock.now())  # serve may have asked already

        def pools_arrived() -> bool:
            with read_transaction(municipal_db) as conn:
                return all(register_store.available_pool_size(conn, lg) >= 200 for lg in links)

        wait_until(pools_arrived, "resident-code pools from the national center")

        history = select(func.count()).select_from(national_identity_history)
        plan = _changes(registers[CHIYODA], registers[SHIBUYA], today_in_japan(clock))
        sent = len(plan)
        people: list[RegisterEntry] = []  # births of Chiyoda in order, by index
        latest: dict[str, RegisterEntry] = {}
        crash: Crash | None = None
        for register, event, person in plan:
            code = None if person is None else people[person].resident_code
            entry = register.record(event, code)
            if person is None and register.lg_code == CHIYODA:
                people.append(entry)
            assert entry.resident_code is not None  # every scripted person has a code
            latest[entry.resident_code] = entry
            if crash is None:
                crash = _crash_mid_delivery(network, national_db, prefecture_db)
        if crash is None:  # never caught it forwarding: crash as soon as the first arrived
            wait_until(lambda: _count(national_db, history) > 0, "the first change at national")
            network.prefecture.kill()
            crash = Crash(_count(national_db, history), _pending(prefecture_db))
        assert 0 < crash.at_national < sent, crash
        assert _count(national_db, history) < sent  # the rest waits in outboxes
        assert _pending(municipal_db) > 0

        network.prefecture.start()  # same port, same database
        network.wait_ready(network.prefecture)

        def settled() -> bool:
            return _count(national_db, history) >= sent and all(
                _pending(db) == 0 for db in (municipal_db, prefecture_db, national_db)
            )

        wait_until(
            settled,
            f"{sent} changes at national and empty outboxes",
            on_timeout=lambda: (
                f"national has {_count(national_db, history)}; pending "
                f"{[_pending(db) for db in (municipal_db, prefecture_db, national_db)]}\n"
                + network.prefecture.tail()
                + "\n"
                + network.municipal.tail()
            ),
        )

        # nothing applied twice: one history row per change, each (source, seq) once, per tier
        for db, table in (
            (national_db, national_identity_history),
            (prefecture_db, prefectural_identity_history),
        ):
            assert _count(db, select(func.count()).select_from(table)) == sent
            twice = (
                select(table.c.source, table.c.source_seq)
                .group_by(table.c.source, table.c.source_seq)
                .having(func.count() > 1)
            )
            with read_transaction(db) as conn:
                assert conn.execute(twice).all() == []
        # nothing lost: every resident's latest version is current at national
        with read_transaction(national_db) as conn:
            for code, entry in latest.items():
                assert get_current(conn, NATIONAL, code) == entry.identity_record(), code
            assert (
                conn.execute(
                    select(func.count())
                    .select_from(message_rejections)
                    .where(message_rejections.c.quarantined.is_(True))
                ).scalar_one()
                == 0
            )
        with read_transaction(municipal_db) as conn:
            outcomes = {o for (o,) in conn.execute(select(outbox.c.outcome).distinct())}
        assert outcomes <= {"applied", "duplicate"}
    finally:
        for engine in (municipal_db, national_db, prefecture_db):
            engine.dispose()


def test_a_prefectures_disclosure_shows_the_national_centers_provisions(
    network: Network,
) -> None:
    """The gap of the production layout closed: the prefecture's process cannot read the
    national center's log, so its desk asks over the network and discloses the answer."""
    clock: Clock = SystemClock()
    national_db = make_engine(sqlite_url(network.database("national")))
    prefecture_db = make_engine(sqlite_url(network.database("prefecture")))
    try:
        person = national_record(901, "開示　請子", birth_date=date(1980, 2, 3))
        store_prefectural(prefecture_db, "13", person, clock)
        with write_transaction(national_db) as conn:
            provision_log.append_log(
                conn,
                provided_at=clock.now() - timedelta(days=3),
                recipient="日本年金機構",
                affair_id="NENKIN-1",
                method="immediate",
                resident_code=person.resident_code,
                case_reference="MP-1",
            )
        # the desk acts in this process, on the prefecture's database; the serving
        # prefecture process delivers its question and applies the answer
        national_center = NationalCenterProvisions(
            {PREFECTURE_NODE: network.credentials(PREFECTURE_NODE)}, Outbox(), clock
        )
        desk = DisclosureService(prefecture_db, Office("13"), clock, national_center)
        today = today_in_japan(clock)
        intake = form(person.resident_code, "開示　請子", subject_birth_date=date(1980, 2, 3))
        request = desk.intake(replace(intake, office=Office("13"), received_on=today), actor="t")

        def answered() -> bool:
            asked = desk.get(request.id).provisions_asked
            return asked is not None and asked.answer is not None

        wait_until(
            answered,
            "the national center's answer at the prefecture",
            on_timeout=lambda: (
                f"{desk.question_state(desk.get(request.id))}\n"
                + network.prefecture.tail()
                + network.national.tail()
            ),
        )
        content = desk.decide(request.id, Decision.DISCLOSE, actor="t").content
        assert content is not None and content.provisions is not None
        assert [p.case_reference for p in content.provisions] == ["MP-1"]
        assert content.provisions_as_of == today
    finally:
        for engine in (national_db, prefecture_db):
            engine.dispose()


def _tls_get(url: str, ctx: ssl.SSLContext) -> int:
    return httpx.get(url + "/healthz", verify=ctx, timeout=5).status_code


def test_a_client_without_a_network_certificate_is_refused(
    network: Network, tmp_path: Path
) -> None:
    trust = network.pki.trust_store()
    url = network.national.url
    assert _tls_get(url, client_ssl_context(network.credentials(MUNI[0]), trust)) == 200
    no_cert = ssl.create_default_context(cadata=trust.to_pem().decode())
    with pytest.raises(httpx.TransportError):
        _tls_get(url, no_cert)
    stranger_pki = NetworkPKI.init(tmp_path / "stranger", datetime.now(UTC))
    stranger = stranger_pki.issue_node(MUNI[0], "municipality")
    with pytest.raises(httpx.TransportError):
        _tls_get(url, client_ssl_context(stranger, trust))
    with (
        HttpTransport({"national": url}, stranger, trust, timeout=5) as transport,
        pytest.raises(TransportError, match=r"national at https://127\.0\.0\.1"),
    ):
        transport.send("national", [b"{}"])


def test_a_wrongly_addressed_message_is_refused(network: Network) -> None:
    creds = network.credentials(MUNI[0])
    envelope = Envelope(
        id=new_message_id(),
        type=MessageType.IDENTITY_UPDATE,
        sender=MUNI[0],
        receiver="national",  # municipalities report to the prefecture, never to national
        seq=1_000_000,
        timestamp=datetime.now(UTC),
        body={"records": []},
    )
    wire = seal(creds, envelope)
    peers = {"national": network.national.url, "prefecture": network.prefecture.url}
    with HttpTransport(peers, creds, network.pki.trust_store(), timeout=10) as transport:
        [at_prefecture] = transport.send("prefecture", [wire])
        [at_national] = transport.send("national", [wire])
    assert at_prefecture.status is AckStatus.REFUSED
    assert at_prefecture.message_id == envelope.id
    assert "not hosted here" in (at_prefecture.reason or "")
    assert at_national.status is AckStatus.REFUSED
    assert "may not send identity_update" in (at_national.reason or "")


def test_sigterm_stops_every_node_cleanly(network: Network) -> None:
    """Last in the module: it ends the network."""
    for p in network.processes:
        p.signal(signal.SIGTERM)
    for p in network.processes:
        assert p.wait(30) == 0, p.tail()
        assert '"node_stopped"' in p.log.read_text(), p.tail()

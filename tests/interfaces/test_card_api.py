"""The clerks' API for resident cards and the card-based move: two municipalities in two
prefectures, each clerk logged in at their own; refusals as problem+json naming field and rule;
a move-in answered 202 and pending until the former municipality answers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jukinet.clock import FixedClock
from jukinet.domain.codes import draw_resident_codes
from jukinet.domain.identity import ChangeReason, Sex
from jukinet.domain.operators import Role
from jukinet.domain.register import NewEntry
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.net.messages import municipal_node
from jukinet.nodes.embedded import EmbeddedNetwork, build_embedded
from tests.support.operators import add_card_operator, log_in, operator_directory

CHIYODA, KAMAKURA = "131016", "142042"
PROBLEM = "application/problem+json"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2014, 3, 3, 1, 0, tzinfo=UTC))


@pytest.fixture
def network(tmp_path: Path, clock: FixedClock) -> Iterator[EmbeddedNetwork]:
    net = build_embedded(tmp_path / "var", clock, [CHIYODA, KAMAKURA])
    for lg, seed in ((CHIYODA, 1), (KAMAKURA, 2)):
        net.municipality(lg).register(lg).designate_codes(
            draw_resident_codes(random.Random(seed), 5)
        )
    yield net
    net.dispose()


@pytest.fixture
def clients(network: EmbeddedNetwork, tmp_path: Path, clock: FixedClock) -> dict[str, TestClient]:
    """A registrar's client per municipality (and a certificate clerk's at Chiyoda)."""
    municipal = network.municipal
    app = create_app(
        services_of(
            network.nodes,
            clock,
            {lg: r for m in municipal for lg, r in m.registers.items()},
            cards={lg: c for m in municipal for lg, c in m.cards.items()},
            card_moves={lg: c for m in municipal for lg, c in m.card_moves.items()},
        )
    )
    operators = operator_directory(clock, home=tmp_path)
    install_operator_service(app, operators)
    found = {}
    for lg, role in ((CHIYODA, Role.REGISTRAR), (KAMAKURA, Role.REGISTRAR)):
        add_card_operator(operators, f"municipality/{lg}", role)
        found[lg] = TestClient(app)
        log_in(found[lg], f"municipality/{lg}", role)
    add_card_operator(operators, f"municipality/{CHIYODA}", Role.CERTIFICATE_CLERK)
    found["clerk"] = TestClient(app)
    log_in(found["clerk"], f"municipality/{CHIYODA}", Role.CERTIFICATE_CLERK)
    return found


def seed(network: EmbeddedNetwork) -> tuple[str, str]:
    """A household head and a neighbour in Chiyoda."""
    register = network.municipality(CHIYODA).register(CHIYODA)
    codes = []
    for name in ("鈴木　一郎", "田中　次郎"):
        entry = register.record(
            NewEntry(
                ChangeReason.EX_OFFICIO_ENTRY,
                date(2014, 1, 6),
                name,
                date(1970, 1, 1),
                Sex.MALE,
                "東京都千代田区丸の内1丁目1番",
            )
        )
        assert entry.resident_code is not None
        codes.append(entry.resident_code)
    return codes[0], codes[1]


def problem(response: object) -> tuple[int, str, str]:
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    return response.status_code, body["field"], body["rule"]  # type: ignore[attr-defined]


def test_card_life_over_the_api(clients: dict[str, TestClient], network: EmbeddedNetwork) -> None:
    chiyoda = clients[CHIYODA]
    code, _ = seed(network)
    base = f"/municipalities/{CHIYODA}/cards"
    issued = chiyoda.post(
        base,
        json={"resident_code": code, "card_type": "B", "pin": "1234", "photo_ref": "p/1.jpg"},
    )
    assert issued.status_code == 201, issued.text
    card = issued.json()
    assert card["usable_as_photo_id"] and card["expires_on"] == "2024-03-02"
    assert "pin" not in card and "pin_hash" not in card
    number = card["card_number"]

    again = chiyoda.post(base, json={"resident_code": code, "card_type": "A", "pin": "1234"})
    assert problem(again) == (422, "resident_code", "card_exists")
    assert chiyoda.post(f"{base}/{number}/suspend").json()["status"] == "suspended"
    refused = chiyoda.post(f"{base}/{number}/resume", json={"identity_document": " "})
    assert problem(refused) == (422, "identity_document", "identity_check_required")
    resumed = chiyoda.post(f"{base}/{number}/resume", json={"identity_document": "パスポート"})
    assert resumed.json()["status"] == "active"
    reset = chiyoda.post(
        f"{base}/{number}/pin-reset", json={"identity_document": "運転免許証", "pin": "98a7"}
    )
    assert problem(reset) == (422, "pin", "pin_format")

    shown = clients["clerk"].get(f"{base}/{number}")  # a certificate clerk may read it
    assert shown.status_code == 200
    assert shown.json()["face"]["name"] == "鈴木　一郎"
    events = [(e["action"], e["outcome"]) for e in shown.json()["events"]]
    assert events == [
        ("issue", "ok"),
        ("suspend", "ok"),
        ("resume", "refused"),
        ("resume", "ok"),
        ("reset_pin", "refused"),
    ]
    assert clients["clerk"].post(f"{base}/{number}/suspend").status_code == 403  # no recording
    assert clients[KAMAKURA].get(f"{base}/{number}").json()["rule"] == "other_organisation"
    assert problem(chiyoda.get(f"{base}/1310169999999999")) == (404, "card_number", "not_found")

    gone = chiyoda.post(f"{base}/{number}/return", json={"reason": "lost"})
    assert (gone.json()["status"], gone.json()["void_reason"]) == ("void", "lost")


def test_card_based_move_over_the_api(
    clients: dict[str, TestClient], network: EmbeddedNetwork, clock: FixedClock
) -> None:
    code, neighbour = seed(network)
    number = (
        clients[CHIYODA]
        .post(
            f"/municipalities/{CHIYODA}/cards",
            json={"resident_code": code, "card_type": "A", "pin": "1234"},
        )
        .json()["card_number"]
    )
    move_out = {
        "resident_code": code,
        "card_number": number,
        "destination_lg_code": KAMAKURA,
        "destination_address": "神奈川県鎌倉市御成町1番",
        "declared_move_date": "2014-03-03",
        "filed_by": "mail",
    }
    wrong = clients[CHIYODA].post(
        f"/municipalities/{CHIYODA}/card-move-outs", json={**move_out, "members": [neighbour]}
    )
    assert problem(wrong) == (422, f"members[{neighbour}]", "other_household")
    filed = clients[CHIYODA].post(f"/municipalities/{CHIYODA}/card-move-outs", json=move_out)
    assert filed.status_code == 201, filed.text
    assert (filed.json()["state"], filed.json()["filed_by"]) == ("declared", "mail")

    network.transport.down.add(municipal_node(CHIYODA))  # the former municipality is down
    move_in = {
        "former_lg_code": CHIYODA,
        "card_number": number,
        "pin": "1234",
        "holder_resident_code": code,
        "new_address": "神奈川県鎌倉市御成町1番",
        "moved_on": "2014-03-03",
    }
    late = clients[KAMAKURA].post(
        f"/municipalities/{KAMAKURA}/card-move-ins", json={**move_in, "moved_on": "2014-02-01"}
    )
    assert problem(late) == (422, "move_date", "deadline_passed")
    assert "14 days after the move" in late.json()["detail"]
    accepted = clients[KAMAKURA].post(f"/municipalities/{KAMAKURA}/card-move-ins", json=move_in)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["state"] == "pending"
    location = accepted.headers["location"]
    network.drain()
    pending = clients[KAMAKURA].get(location).json()
    assert pending["state"] == "pending"
    assert pending["delivery"]["delivered"] is False and pending["delivery"]["attempts"] >= 1
    assert "unreachable" in pending["delivery"]["last_error"]
    assert "retried automatically" in pending["explanation"]
    listed = clients[KAMAKURA].get(
        f"/municipalities/{KAMAKURA}/card-move-ins", params={"state": "pending"}
    )
    assert [r["request_id"] for r in listed.json()] == [pending["request_id"]]

    network.transport.down.clear()
    clock.advance(timedelta(minutes=5))
    network.drain()
    done = clients[KAMAKURA].get(location).json()
    assert done["state"] == "completed", done["explanation"]
    assert done["registered"] == [code]
    resident = clients[KAMAKURA].get(f"/municipalities/{KAMAKURA}/residents/{code}").json()
    assert resident[0]["current"]["change_reason"] == "move_in"
    card = clients[KAMAKURA].get(f"/municipalities/{KAMAKURA}/cards/{number}").json()["card"]
    assert (card["status"], card["continued_from"]) == ("active", CHIYODA)
    old = clients[CHIYODA].get(f"/municipalities/{CHIYODA}/cards/{number}").json()["card"]
    assert (old["status"], old["continued_to"]) == ("continued_elsewhere", KAMAKURA)
    unknown = clients[KAMAKURA].get(f"/municipalities/{KAMAKURA}/card-move-ins/nope")
    assert problem(unknown) == (404, "request_id", "not_found")

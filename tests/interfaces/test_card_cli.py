"""``jukinet card`` and ``jukinet resident move-out|move-in``, as a clerk's script calls them:
a card issued at 千代田区, a card-based move to 鎌倉市 with a household member, the wrong PIN
refused with the attempts left, and every refusal one clear line with the rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.clock import SystemClock, today_in_japan
from jukinet.interfaces.cli.app import app, main

runner = CliRunner()
CHIYODA, KAMAKURA = "131016", "142042"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "var"))
    return tmp_path / "var"


def ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def person(name: str, today: str, household: str | None = None) -> dict[str, str]:
    args = ["resident", "record", "ex_officio_entry", "--lg-code", CHIYODA, "--date", today]
    args += ["--name", name, "--birth-date", "1980-01-01", "--sex", "female"]
    args += ["--address", "東京都千代田区千代田1番1号", "--json"]
    if household:
        args += ["--household", household, "--relationship", "子"]
    return json.loads(ok(args))  # type: ignore[no-any-return]


def test_card_and_card_based_move(capsys: pytest.CaptureFixture[str]) -> None:
    today = today_in_japan(SystemClock()).isoformat()
    ok(["pool", "request", "--lg-code", CHIYODA])
    ok(["pool", "request", "--lg-code", KAMAKURA])
    head = person("山田　花子", today)
    child = person("山田　桃子", today, household=head["household_id"])
    issue = ["card", "issue", head["resident_code"], "--lg-code", CHIYODA, "--type", "A"]
    card = json.loads(ok([*issue, "--pin", "1234", "--json"]))
    number = card["card_number"]
    assert card["status"] == "active" and not card["usable_as_photo_id"]

    move_out = ["resident", "move-out", head["resident_code"], "--lg-code", CHIYODA]
    move_out += ["--special", "--card", number, "--member", child["resident_code"], "--by-mail"]
    move_out += ["--destination-lg-code", KAMAKURA, "--destination-address", "神奈川県鎌倉市1番"]
    filed = ok([*move_out, "--date", today])
    assert "card-based move-out filed (mail)" in filed

    move_in = ["resident", "move-in", "--lg-code", KAMAKURA, "--card", number]
    move_in += ["--from", CHIYODA, "--resident-code", head["resident_code"]]
    move_in += ["--member", child["resident_code"], "--address", "神奈川県鎌倉市1番"]
    move_in += ["--date", today]
    wrong = runner.invoke(app, [*move_in, "--pin", "0000"])
    assert wrong.exit_code == 1
    assert "refused [wrong_pin]" in wrong.stdout and "2 attempt(s) left" in wrong.stdout

    code, _, err = run_main([*move_in, "--pin", "12345"], capsys)
    assert code == 1 and "pin: a PIN is exactly 4 digits [pin_format]" in err

    done = runner.invoke(app, [*move_in, "--pin", "1234"])
    assert done.exit_code == 0, done.output
    assert ": completed" in done.stdout and "registered 2 resident(s)" in done.stdout

    shown = json.loads(ok(["card", "show", number, "--lg-code", KAMAKURA, "--json"]))
    assert (shown["status"], shown["continued_from"]) == ("active", CHIYODA)
    old = json.loads(ok(["card", "show", number, "--lg-code", CHIYODA, "--json"]))
    assert old["status"] == "continued_elsewhere"
    assert [e["rule"] for e in old["events"] if e["outcome"] == "refused"] == ["wrong_pin"]
    statuses = json.loads(ok(["resident", "move-in-status", "--lg-code", KAMAKURA, "--json"]))
    assert sorted(s["state"] for s in statuses) == ["completed", "refused", "refused"]
    gone = json.loads(
        ok(["resident", "show", child["resident_code"], "--lg-code", CHIYODA, "--json"])
    )
    assert gone[0]["current"]["status"] == "removed"


def test_card_commands_and_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    today = today_in_japan(SystemClock()).isoformat()
    ok(["pool", "request", "--lg-code", CHIYODA])
    head = person("佐藤　一郎", today)
    issue = ["card", "issue", head["resident_code"], "--lg-code", CHIYODA, "--pin", "1234"]
    number = json.loads(ok([*issue, "--type", "A", "--json"]))["card_number"]
    code, _, err = run_main([*issue, "--type", "A"], capsys)
    assert code == 1 and "[card_exists]" in err
    assert "suspended" in ok(["card", "suspend", number, "--lg-code", CHIYODA])
    code, _, err = run_main(["card", "suspend", number, "--lg-code", CHIYODA], capsys)
    assert code == 1 and "[card_suspended]" in err
    assert "active" in ok(["card", "resume", number, "--lg-code", CHIYODA, "--identity", "旅券"])
    assert "PIN reset" in ok(
        ["card", "reset-pin", number, "--lg-code", CHIYODA, "--identity", "旅券", "--pin", "4321"]
    )
    assert number in ok(["card", "list", head["resident_code"], "--lg-code", CHIYODA])
    assert "void (lost)" in ok(["card", "return", number, "--lg-code", CHIYODA, "--lost"])
    shown = ok(["card", "show", number, "--lg-code", CHIYODA])
    assert "reset_pin" in shown and "card_suspended" in shown

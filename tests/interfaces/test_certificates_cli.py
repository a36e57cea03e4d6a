"""``jukinet foreign-residents``, ``jukinet wide-area`` and ``jukinet revocation-feed`` as an
operator's script calls them, on the embedded network under ``JUKINET_HOME`` with a fixed
clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.interfaces.cli import common
from jukinet.interfaces.cli.app import app, main

runner = CliRunner()


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "var"))
    fixed = FixedClock(datetime(2013, 7, 1, 3, 0, tzinfo=UTC))
    monkeypatch.setattr(common, "clock", lambda: fixed)
    return fixed


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def record(*args: str) -> dict[str, object]:
    entry: dict[str, object] = json.loads(run("resident", "record", *args, "--json"))
    return entry


def test_assign_codes_before_on_and_after(
    clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    run("pool", "request", "--lg-code", "131016")
    clock.current = datetime(2013, 7, 5, 3, 0, tzinfo=UTC)
    wang = record(
        "became_foreign_resident",
        "--lg-code",
        "131016",
        "--date",
        "2012-07-09",
        "--name",
        "王　明",
        "--birth-date",
        "1985-06-15",
        "--sex",
        "male",
        "--address",
        "東京都千代田区神田1番",
        "--kind",
        "foreign",
        "--nationality",
        "中国",
        "--alias",
        "王　明男",
    )
    assert wang["resident_code"] is None
    assert "131016: 1 without a code" in run("foreign-residents", "status", "--lg-code", "131016")
    code, _out, err = run_main(["foreign-residents", "assign-codes", "--no-progress"], capsys)
    assert code == 1
    assert "before_applicable_date" in err and "2013-07-08" in err

    clock.current = datetime(2013, 7, 8, 3, 0, tzinfo=UTC)
    out = run("foreign-residents", "assign-codes", "--lg-code", "131016", "--no-progress")
    assert "131016: 1 codes assigned, 0 without a code" in out
    again = run("foreign-residents", "assign-codes", "--no-progress")
    assert "131016: 0 codes assigned, 0 without a code" in again
    found = run("resident", "search", "--lg-code", "131016", "--name", "王")
    assert "1 found" in found and " - " not in found


def test_wide_area_request_prints_the_copy_and_the_feed(clock: FixedClock, tmp_path: Path) -> None:
    clock.current = datetime(2014, 3, 3, 1, 0, tzinfo=UTC)
    run("pool", "request", "--lg-code", "131016")
    person = record(
        "move_in_from_abroad",
        "--lg-code",
        "131016",
        "--date",
        "2013-04-01",
        "--name",
        "鈴木　一郎",
        "--birth-date",
        "1960-01-02",
        "--sex",
        "male",
        "--address",
        "東京都千代田区丸の内1番",
        "--registered-domicile",
        "東京都千代田区千代田1番",
    )
    code = str(person["resident_code"])
    assert "¥350 a copy" in run("wide-area", "fee", "--lg-code", "142042", "--set", "350")
    out = tmp_path / "copy.pdf"
    asked = run(
        "wide-area",
        "request",
        "--lg-code",
        "142042",
        "--home",
        "131016",
        "--requester",
        code,
        "--name",
        "鈴木　一郎",
        "--birth-date",
        "昭和35年1月2日",
        "--id-document",
        "運転免許証",
        "--out",
        str(out),
    )
    assert "request 1 (142042-00000001): issued on 2014-03-03 (fee ¥350)" in asked
    assert out.read_bytes()[:5] == b"%PDF-"
    refused = run(
        "wide-area",
        "request",
        "--lg-code",
        "142042",
        "--home",
        "131016",
        "--requester",
        code,
        "--name",
        "鈴木　二郎",
        "--birth-date",
        "1960-01-02",
        "--id-document",
        "旅券",
    )
    assert "request 2 (142042-00000002): refused by municipality/131016" in refused
    assert "[identity_mismatch]" in refused
    listed = run("wide-area", "list", "--lg-code", "142042")
    assert "issued" in listed and "refused" in listed

    run(
        "resident",
        "record",
        "move_within",
        "--lg-code",
        "131016",
        "--resident-code",
        code,
        "--date",
        "2014-03-02",
        "--address",
        "東京都千代田区神田2番",
    )
    page = json.loads(run("revocation-feed", "--json"))
    [notice] = page["notices"]
    assert (notice["resident_code"], notice["causes"]) == (code, ["address_change"])
    after = json.loads(run("revocation-feed", "--json", "--after", str(page["next_cursor"])))
    assert after == {"notices": [], "next_cursor": page["next_cursor"], "more": False}
    table = run("revocation-feed")
    assert "住所の変更" in table and f"next cursor: {page['next_cursor']}" in table

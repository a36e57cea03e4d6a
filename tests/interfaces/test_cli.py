"""The ``jukinet`` command as an operator's script calls it: exit codes and exact output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.interfaces.cli.app import app, main

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JUKINET_HOME", str(tmp_path / "var"))
    return tmp_path / "var"


@pytest.mark.parametrize(
    ("kind", "value"),
    [("resident", "24727059608"), ("lg", "131016"), ("mynumber", "123456789018")],
)
def test_code_check_valid(kind: str, value: str) -> None:
    result = runner.invoke(app, ["code", "check", kind, value])
    assert result.exit_code == 0
    assert result.stdout.strip() == "valid"


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("resident", "24727059609", "check digit of 24727059609 should be 8, not 9"),
        ("resident", "2472705960", "must be 11 digits"),
        ("lg", "131017", "should be 6"),
        ("lg", "991001", "not 01-47"),
        ("mynumber", "12345678901a", "only the digits"),
    ],
)
def test_code_check_invalid_prints_the_reason(kind: str, value: str, reason: str) -> None:
    result = runner.invoke(app, ["code", "check", kind, value])
    assert result.exit_code == 1
    assert reason in result.stdout


def test_era_both_ways() -> None:
    assert runner.invoke(app, ["era", "2013-08-30"]).stdout.strip() == "平成25年8月30日"
    assert runner.invoke(app, ["era", "令和元年5月1日"]).stdout.strip() == "2019-05-01"
    assert runner.invoke(app, ["era", "令和1年5月1日"]).stdout.strip() == "2019-05-01"


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run through ``main`` (the console script), which turns rule violations into exit 1."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_register_events_show_and_search(home: Path) -> None:
    pooled = runner.invoke(app, ["pool", "request", "--lg-code", "131016"])
    assert pooled.exit_code == 0, pooled.output
    assert "131016: 1000 codes available" in pooled.stdout
    result = runner.invoke(
        app,
        [
            "resident",
            "record",
            "birth",
            "--lg-code",
            "131016",
            "--date",
            "2014-03-01",
            "--name",
            "山田　花子",
            "--birth-date",
            "平成26年3月1日",
            "--sex",
            "female",
            "--address",
            "東京都千代田区千代田1番1号",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    code = json.loads(result.stdout)["resident_code"]
    moved = runner.invoke(
        app,
        [
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
            "東京都千代田区神田1番",
        ],
    )
    assert moved.exit_code == 0, moved.output
    shown = runner.invoke(app, ["resident", "show", code, "--lg-code", "131016", "--json"])
    [entry] = json.loads(shown.stdout)
    assert [v["change_reason"] for v in entry["history"]] == ["birth", "move_within"]
    found = runner.invoke(app, ["resident", "search", "--lg-code", "131016", "--name", "山田"])
    assert code in found.stdout and "1 found" in found.stdout
    assert (home / "municipalities" / "131016.db").exists()


def test_refused_event_exits_1_naming_field_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runner.invoke(app, ["pool", "request", "--lg-code", "131016"])
    code, _out, err = run_main(
        [
            "resident",
            "record",
            "death",
            "--lg-code",
            "131016",
            "--resident-code",
            "24727059608",
            "--date",
            "2014-03-01",
        ],
        capsys,
    )
    assert code == 1
    assert "resident_code" in err and "not_active" in err
    code, _out, err = run_main(
        [
            "resident",
            "record",
            "birth",
            "--lg-code",
            "131016",
            "--date",
            "2014-02-30",
            "--name",
            "x",
            "--birth-date",
            "2014-02-30",
            "--sex",
            "male",
            "--address",
            "y",
        ],
        capsys,
    )
    assert code == 1
    assert "change_date" in err
    code, _out, err = run_main(["resident", "search", "--lg-code", "019992", "--name", "x"], capsys)
    assert code == 1 and "unknown_municipality" in err
    shown = runner.invoke(app, ["resident", "search", "--lg-code", "131016", "--name", "x"])
    assert "0 found" in shown.stdout


def test_population_generate(home: Path) -> None:
    result = runner.invoke(
        app,
        [
            "population",
            "generate",
            "--lg-code",
            "131016",
            "--residents",
            "500",
            "--seed",
            "3",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "loaded 500 residents into 131016" in result.stdout
    found = runner.invoke(
        app, ["resident", "search", "--lg-code", "131016", "--address", "東京都千代田区"]
    )
    assert "50 found" in found.stdout

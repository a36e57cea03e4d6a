"""``jukinet disclosure …`` and ``jukinet report disclosures`` on the embedded network under
JUKINET_HOME: every step from the CLI, errors as one line naming field and rule (exit 1), and
the statistics CSV equal to the recorded requests."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jukinet.clock import FixedClock
from jukinet.domain.eras import fiscal_year
from jukinet.interfaces.cli import common
from jukinet.interfaces.cli import disclosure as disclosure_cli
from jukinet.interfaces.cli import report as report_cli
from jukinet.interfaces.cli.app import app, main
from jukinet.nodes.demo import DEMO_MUNICIPALITIES
from jukinet.nodes.embedded import build_embedded
from tests.support.disclosure import (
    SUZUKI,
    TANAKA,
    World,
    build_national,
    clock,
    store_prefectural,
)
from tests.support.pdf import read_back
from tests.support.provision import national_record

runner = CliRunner()
CLOCK: FixedClock = clock()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    home = tmp_path / "var"
    monkeypatch.setenv("JUKINET_HOME", str(home))
    for module in (common, disclosure_cli, report_cli):
        monkeypatch.setattr(module, "clock", lambda: CLOCK)
    net = build_embedded(home, CLOCK, list(DEMO_MUNICIPALITIES))
    try:
        assert net.national.files is not None
        built = build_national(net.national.engine, net.national.files, CLOCK)
    finally:
        net.dispose()
    return built


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    _out, err = capsys.readouterr()
    return int(exit_.value.code or 0), err


def intake(code: str, *extra: str) -> str:
    return run(
        "disclosure",
        "intake",
        "--received",
        "2014-03-20",
        "--resident-code",
        code,
        "--name",
        SUZUKI,
        "--birth-date",
        "昭和25年5月5日",
        "--evidence",
        "drivers_licence",
        *extra,
    )


def test_every_step_from_the_cli(world: World, tmp_path: Path) -> None:
    out = intake(world.suzuki)
    assert out.startswith("request 1 (national): received, received 2014-03-20 (平成26年3月20日)")
    assert "decision due 2014-04-03" in out
    out = run("disclosure", "decide", "1", "--decision", "disclose")
    assert "disclose on 2014-03-31" in out
    assert "disclosed: 3 versions, 3 provisions" in out
    shown = json.loads(run("disclosure", "show", "1", "--json"))
    provisions = shown["content"]["provisions"]
    assert {p["case_reference"] for p in provisions} == {"NK-2011-1", "NK-2013-9", "p1"}
    text = json.dumps(shown, ensure_ascii=False)
    assert world.tanaka not in text and TANAKA not in text
    assert "日本年金機構" in run("disclosure", "show", "1")
    letter = tmp_path / "letter.pdf"
    run("disclosure", "letter", "1", "--out", str(letter))
    assert letter.read_bytes()[:5] == b"%PDF-"
    assert "delivered by visit on 2014-03-31" in run("disclosure", "deliver", "1")
    out = run(
        "disclosure", "correction", "request", "1", "--item", "name", "--claimed", "鈴木　壱郎"
    )
    assert out.strip() == "correction 1 of request 1: name requested"
    out = run(
        "disclosure",
        "correction",
        "answer",
        "1",
        "1",
        "--outcome",
        "not_corrected",
        "--findings",
        "戸籍に基づく記載であることを確認しました。",
    )
    assert "answered (not_corrected)" in out
    answer = tmp_path / "answer.pdf"
    run("disclosure", "correction", "letter", "1", "1", "--out", str(answer))
    assert answer.read_bytes()[:5] == b"%PDF-"
    assert "delivered" in run("disclosure", "list", "--state", "delivered")


def test_refusals_overdue_and_errors(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = intake(world.suzuki, "--requester", "voluntary_agent", "--requester-name", "代理　太郎")
    assert "refuse on 2014-03-31 (not_entitled)" in out
    assert "任意代理人" in out
    letter = tmp_path / "refusal.pdf"
    run("disclosure", "letter", "1", "--out", str(letter))
    assert letter.read_bytes()[:5] == b"%PDF-"
    intake(world.suzuki, "--request-method", "visit")
    run(
        "disclosure",
        "intake",
        "--received",
        "2014-03-10",
        "--resident-code",
        world.suzuki,
        "--name",
        SUZUKI,
        "--birth-date",
        "1950-05-05",
        "--evidence",
        "passport",
    )
    out = run("disclosure", "overdue")
    assert "2014-03-24" in out and "│ 7 " in out
    assert "no overdue request on 2014-03-23" in run(
        "disclosure", "overdue", "--date", "2014-03-23"
    )

    code, err = run_main(
        [
            "disclosure",
            "intake",
            "--received",
            "2014-04-01",
            "--resident-code",
            world.suzuki,
            "--name",
            SUZUKI,
            "--birth-date",
            "1950-05-05",
        ],
        capsys,
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "received_on:" in err and "[future_date]" in err
    code, err = run_main(["disclosure", "deliver", "2"], capsys)
    assert code == 1 and "state:" in err and "[illegal_transition]" in err
    code, err = run_main(["disclosure", "show", "99"], capsys)
    assert code == 1 and "request_id:" in err and "[not_found]" in err
    code, err = run_main(["disclosure", "list", "--office", "48"], capsys)
    assert code == 1 and "--office:" in err and "[office]" in err
    code, err = run_main(["disclosure", "decide", "2", "--decision", "refuse"], capsys)
    assert code == 1 and "refusal_reasons:" in err and "[required]" in err


def test_report_disclosures_csv_equals_the_recorded_requests(world: World, tmp_path: Path) -> None:
    cases = [
        ("2002-08-05", "visit", "visit"),
        ("2012-05-01", "mail", "mail"),
        ("2013-03-31", "visit", "mail"),
        ("2013-04-01", "mail", "visit"),
        ("2014-03-31", "visit", "visit"),
    ]
    for received, how, answer in cases:
        run(
            "disclosure",
            "intake",
            "--received",
            received,
            "--resident-code",
            world.suzuki,
            "--name",
            SUZUKI,
            "--birth-date",
            "1950-05-05",
            "--request-method",
            how,
            "--delivery",
            answer,
            "--requester-address",
            "東京都千代田区1番",
            "--evidence",
            "passport",
            "--evidence",
            "residence_certificate",
        )
    out = run("report", "disclosures", "--from", "2002", "--to", "2013", "--format", "csv")
    lines = out.splitlines()
    assert (
        lines[0]
        == "fiscal_year,era_year,request_visit,request_mail,delivery_visit,delivery_mail,total"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["fiscal_year"] for r in rows] == [*map(str, range(2002, 2014)), "total"]
    assert rows[0]["era_year"] == "平成14年度"
    assert rows[-1]["era_year"] == "合計"
    listed = [
        line.split("received ")[1][:10]
        for line in run("disclosure", "list").splitlines()
        if line.startswith("request ")
    ]
    assert sorted(listed) == sorted(c[0] for c in cases)
    for row in rows[:-1]:
        mine = [
            c for c in cases if fiscal_year(date.fromisoformat(c[0])) == int(row["fiscal_year"])
        ]
        assert int(row["request_visit"]) == sum(1 for c in mine if c[1] == "visit")
        assert int(row["request_mail"]) == sum(1 for c in mine if c[1] == "mail")
        assert int(row["delivery_visit"]) == sum(1 for c in mine if c[2] == "visit")
        assert int(row["delivery_mail"]) == sum(1 for c in mine if c[2] == "mail")
        assert int(row["total"]) == len(mine)
    assert lines[-1] == "total,合計,3,2,3,2,5"
    pdf = tmp_path / "stats.pdf"
    run(
        "report",
        "disclosures",
        "--from",
        "2002",
        "--to",
        "2013",
        "--format",
        "pdf",
        "--out",
        str(pdf),
    )
    assert pdf.read_bytes()[:5] == b"%PDF-"
    written = tmp_path / "stats.csv"
    run(
        "report",
        "disclosures",
        "--from",
        "2012",
        "--to",
        "2013",
        "--format",
        "csv",
        "--out",
        str(written),
    )
    assert written.read_text(encoding="utf-8").splitlines()[-1] == "total,合計,2,2,2,2,4"


def test_a_prefectures_desk_from_the_cli(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = build_embedded(Path(os.environ["JUKINET_HOME"]), CLOCK, list(DEMO_MUNICIPALITIES))
    try:
        tokyo_copy = national_record(12, SUZUKI, birth_date=date(1950, 5, 5))
        store_prefectural(net.prefecture.engine, "13", tokyo_copy, CLOCK)
    finally:
        net.dispose()
    out = intake(world.suzuki, "--office", "13")
    assert out.startswith("request 1 (13): received")
    # the command delivered the question and the answer before it returned
    shown = run("disclosure", "show", "1", "--office", "13")
    assert "provision history: answered by the national center on 2014-03-31: 3" in shown
    reason = "記録の確認に時間を要するため"
    extended = run(
        "disclosure", "extend", "1", "--office", "13", "--until", "2014-04-30", "--reason", reason
    )
    assert "decision due 2014-04-30 (extended)" in extended
    notice = tmp_path / "extension.pdf"
    run("disclosure", "extension-notice", "1", "--office", "13", "--out", str(notice))
    assert "東京都知事" in read_back(notice)
    assert "3 provisions" in run(
        "disclosure", "decide", "1", "--office", "13", "--decision", "disclose"
    )
    code, err = run_main(["disclosure", "ask-provisions", "1", "--office", "13"], capsys)
    assert code == 1
    assert "not_awaiting_decision" in err

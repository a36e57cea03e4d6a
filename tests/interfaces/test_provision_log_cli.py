"""``jukinet provision log seal|verify`` on the embedded network: exit 0 on an intact log,
exit 1 naming what was altered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from jukinet.interfaces.cli.app import app
from jukinet.store import provision_log as store
from jukinet.store.db import make_engine, sqlite_url, write_transaction


def test_seal_then_verify_then_tamper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("JUKINET_HOME", str(home))
    runner = CliRunner()
    result = runner.invoke(app, ["provision", "log", "seal"])
    assert result.exit_code == 0, result.output
    assert "nothing to seal" in result.output
    engine = make_engine(sqlite_url(home.resolve() / "national.db"))
    at = datetime(2013, 8, 10, tzinfo=UTC)
    with write_transaction(engine) as conn:
        for n in range(3):
            store.append_log(
                conn,
                provided_at=at + timedelta(minutes=n),
                recipient="日本年金機構",
                affair_id="NENKIN-1",
                method="immediate",
                resident_code=f"{n:011d}",
                case_reference=f"case-{n}",
            )
    result = runner.invoke(app, ["provision", "log", "seal"])
    assert result.exit_code == 0, result.output
    assert "sealed 3 rows (ids 1-3) in 1 seals" in result.output
    result = runner.invoke(app, ["provision", "log", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 entries" in result.output
    assert "1 seals" in result.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE provision_log SET resident_code = '99999999999' WHERE id = 2"))
    engine.dispose()
    result = runner.invoke(app, ["provision", "log", "verify"])
    assert result.exit_code == 1, result.output
    assert "ids 1-3 altered" in result.output


def test_purge_past_retention_and_refuse_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("JUKINET_HOME", str(home))
    runner = CliRunner()
    result = runner.invoke(app, ["provision", "log", "purge"])
    assert result.exit_code == 0, result.output
    assert "nothing to purge" in result.output
    engine = make_engine(sqlite_url(home.resolve() / "national.db"))
    with write_transaction(engine) as conn:
        for n, year in enumerate((2013, 2013, datetime.now(UTC).year)):
            store.append_log(
                conn,
                provided_at=datetime(year, 1, 10, tzinfo=UTC),
                recipient="日本年金機構",
                affair_id="NENKIN-1",
                method="immediate",
                resident_code=f"{n:011d}",
                case_reference=f"case-{n}",
            )
    engine.dispose()
    recent = f"{datetime.now(UTC).year - 1}-01"
    result = runner.invoke(app, ["provision", "log", "purge", "--before", recent])
    assert result.exit_code == 1, result.output
    assert "kept 7 years" in result.output
    result = runner.invoke(app, ["provision", "log", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 entries, 0 segment files" in result.output
    result = runner.invoke(app, ["provision", "log", "verify"])
    assert result.exit_code == 0, result.output
    assert "1 rows not sealed yet" in result.output

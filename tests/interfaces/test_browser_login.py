"""A real browser enrols an authenticator and logs in on the running application.

Debian's Chromium driven by Playwright, with a CDP virtual authenticator that verifies the user
(as a fingerprint reader would). The app runs under uvicorn on a loopback port and is reached
as ``http://localhost:PORT``, a secure context for WebAuthn. In CI the browser must be there.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import uvicorn

from jukinet.clock import SystemClock
from jukinet.domain.operators import Role
from jukinet.interfaces.api.app import create_app
from jukinet.interfaces.api.auth_deps import install_operator_service
from jukinet.interfaces.api.deps import services_of
from jukinet.interfaces.webauthn import PyWebAuthn, RelyingParty
from jukinet.services.operators import OperatorService
from jukinet.store.db import make_engine, sqlite_url
from jukinet.store.migrate import upgrade

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser test must run in CI: {reason}")
    pytest.skip(f"{reason} (outside CI only)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def running_app(tmp_path: Path) -> Iterator[tuple[str, OperatorService]]:
    port = _free_port()
    origin = f"http://localhost:{port}"
    engine = make_engine(sqlite_url(tmp_path / "operators.db"))
    upgrade(engine)
    clock = SystemClock()
    service = OperatorService(
        engine, clock, PyWebAuthn(RelyingParty("localhost", "住基ネット", (origin,)))
    )
    app = create_app(services_of([], clock))
    install_operator_service(app, service)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield origin, service
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def test_enrol_and_log_in_with_a_virtual_biometric_authenticator(
    running_app: tuple[str, OperatorService],
) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415 - after the check

    origin, service = running_app
    service.add_organisation("municipality/131016", "千代田区", legacy_cutoff=date(2014, 6, 1))
    service.add_operator("municipality/131016", "admin01", "管理 太郎", Role.ADMINISTRATOR)
    service.add_operator("municipality/131016", "reg01", "登録 花子", Role.REGISTRAR)
    admin = service.operator("admin01")
    token = service.issue_enrolment_token("reg01", issued_by=admin)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )
            page.goto(f"{origin}/login")
            expect(page.locator("h1")).to_have_text("操作者ログイン")
            page.fill("#token", token)
            page.click("#enrol-button")
            expect(page.locator("#message")).to_contain_text("認証器を登録しました")
            expect(page.locator("#login")).to_have_value("reg01")
            page.click("#login-button")
            page.wait_for_url(f"{origin}/operator")
            expect(page.locator("h1")).to_have_text("操作者メニュー")
            expect(page.locator("#welcome")).to_contain_text("登録 花子")
            expect(page.locator("#role")).to_have_text("住民記録担当")
        finally:
            browser.close()
    [(_, authenticators)] = [x for x in service.list_operators() if x[0].login == "reg01"]
    assert authenticators == 1

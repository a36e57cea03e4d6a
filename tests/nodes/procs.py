"""Node processes for tests: free ports, configs, start/kill, bounded waits.

Every child is started in its own session and always killed by whoever started it (fixtures
call :meth:`NodeProcess.kill` in ``finally``), so a failing test leaves nothing running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from jukinet.net.pki import NodeCredentials, TrustStore
from jukinet.net.tls import client_ssl_context

WAIT_SECONDS = 60.0


def free_port() -> int:
    """A port nobody listens on right now (bind to 0 and let go of it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jukinet_command() -> list[str]:
    """The installed console script, else the same entry point through the interpreter."""
    script = Path(sys.executable).parent / "jukinet"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from jukinet.interfaces.cli.app import main; main()"]


def run_jukinet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*jukinet_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["COLUMNS"] = "200"  # Rich wraps error lines at 80 columns otherwise
    return env


def toml_config(
    *,
    role: str,
    database: Path,
    pki_dir: Path,
    port: int,
    peers: dict[str, str],
    lg_codes: list[str] | None = None,
    heartbeat_seconds: float = 1.0,
) -> str:
    lines = [
        f'role = "{role}"',
        f'database_url = "sqlite:///{database}"',
        f'pki_dir = "{pki_dir}"',
        f"heartbeat_seconds = {heartbeat_seconds}",
        "timeout_seconds = 10",
    ]
    if lg_codes:
        lines.append("lg_codes = [" + ", ".join(f'"{c}"' for c in lg_codes) + "]")
    lines += ["", "[listen]", 'host = "127.0.0.1"', f"port = {port}", "", "[peers]"]
    lines += [f'"{k}" = "{v}"' for k, v in peers.items()]
    return "\n".join(lines) + "\n"


@dataclass
class NodeProcess:
    """One ``jukinet serve`` child; its output goes to ``log`` (printed when a wait fails)."""

    role: str
    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*jukinet_command(), "serve", "--role", self.role, "--config", str(self.config)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_env(),
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float = WAIT_SECONDS) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL and reap (idempotent): the crash in the test, and the cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, credentials: NodeCredentials, trust: TrustStore) -> None:
        """Until ``/healthz`` answers over mutual TLS (the database is migrated by then)."""
        ctx = client_ssl_context(credentials, trust)

        def ready() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.role} exited early:\n{self.tail()}")
            try:
                return httpx.get(self.url + "/healthz", verify=ctx, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, f"{self.role} to serve", on_timeout=self.tail)


def wait_until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = WAIT_SECONDS,
    every: float = 0.1,
    on_timeout: Callable[[], str] | None = None,
) -> float:
    """Poll ``condition`` until true; fail naming ``what`` after ``timeout`` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            detail = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")
        time.sleep(every)
    return time.monotonic() - started


def configure_network(home: Path, lg_codes: list[str]) -> dict[str, NodeProcess]:
    """`jukinet init` a CA and nodes under ``home`` and write one config per role (national,
    prefecture, a municipal host for ``lg_codes``) on free ports; returns the processes,
    not yet started."""
    municipal = [f"municipality/{c}" for c in lg_codes]
    nodes = [arg for node in ("national", "prefecture", *municipal) for arg in ("--node", node)]
    init = run_jukinet("init", "--home", str(home), *nodes, cwd=home)
    if init.returncode != 0:
        raise RuntimeError(f"jukinet init failed: {init.stderr}")
    ports = {"national": free_port(), "prefecture": free_port(), "municipality": free_port()}
    url = {role: f"https://127.0.0.1:{port}" for role, port in ports.items()}
    peers = {
        "national": {"prefecture": url["prefecture"], "municipality/*": url["municipality"]},
        "prefecture": {"national": url["national"]},
        "municipality": {
            "national": url["national"],
            "prefecture": url["prefecture"],
            "municipality/*": url["municipality"],
        },
    }
    processes = {}
    for role, port in ports.items():
        config = home / f"{role}.toml"
        config.write_text(
            toml_config(
                role=role,
                database=home / f"{role}.db",
                pki_dir=home / "pki",
                port=port,
                peers=peers[role],
                lg_codes=lg_codes if role == "municipality" else None,
            )
        )
        processes[role] = NodeProcess(role, config, port, home / f"{role}.log")
    return processes

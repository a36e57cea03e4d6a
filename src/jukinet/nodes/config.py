"""A node's production configuration: one TOML file per node process (``jukinet serve``).

Example (a municipal host for 千代田区 and 渋谷区)::

    role = "municipality"
    database_url = "postgresql://jukinet@db.chiyoda.example/jukinet"
    pki_dir = "pki"                 # what `jukinet init` wrote (relative to this file)
    files_dir = "files"             # files outside the database (default "files")
    lg_codes = ["131016", "131130"]
    heartbeat_seconds = 10

    [listen]
    host = "0.0.0.0"
    port = 8443

    [peers]                         # node id (or "municipality/*", "*") -> https base URL
    national = "https://national.example:8441"
    prefecture = "https://prefecture.example:8442"
    "municipality/*" = "https://municipal-cloud.example:8443"

Every mistake is reported as :class:`ConfigError` naming the file and the key, before anything
starts: a node that starts half-configured would only fail later, less clearly.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from jukinet.domain import reference
from jukinet.domain.errors import RuleViolation
from jukinet.net.http import peer_url
from jukinet.net.messages import NATIONAL_NODE, PREFECTURE_NODE, Role, municipal_node

__all__ = ["ConfigError", "NodeConfig", "load_config", "parse_config"]

_TOP_KEYS: Final = frozenset(
    {
        "role",
        "database_url",
        "pki_dir",
        "files_dir",
        "lg_codes",
        "heartbeat_seconds",
        "timeout_seconds",
        "listen",
        "peers",
    }
)
_LISTEN_KEYS: Final = frozenset({"host", "port"})
T = TypeVar("T")
Fail = Callable[[str, str], "ConfigError"]
DEFAULT_PORTS: Final = {Role.NATIONAL: 8441, Role.PREFECTURE: 8442, Role.MUNICIPALITY: 8443}


class ConfigError(ValueError):
    """A configuration file is unusable; ``key`` names the offending entry."""

    def __init__(self, source: Path | str, key: str, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}")
        self.source = source
        self.key = key
        self.message = message


@dataclass(frozen=True)
class NodeConfig:
    """Everything one node process needs; paths are absolute."""

    source: Path
    role: Role
    database_url: str
    pki_dir: Path
    files_dir: Path  # files kept outside the database (national: batch jobs, log segments)
    listen_host: str
    listen_port: int
    peers: dict[str, str] = field(default_factory=dict)
    lg_codes: tuple[str, ...] = ()
    heartbeat_seconds: float = 10.0
    timeout_seconds: float = 30.0

    @property
    def node_ids(self) -> list[str]:
        """The node ids this process speaks for (a municipal host: one per municipality)."""
        if self.role is Role.NATIONAL:
            return [NATIONAL_NODE]
        if self.role is Role.PREFECTURE:
            return [PREFECTURE_NODE]
        return [municipal_node(c) for c in self.lg_codes]

    @property
    def name(self) -> str:
        """A name for logs and threads: the role, plus the lg codes of a municipal host."""
        if self.role is Role.MUNICIPALITY:
            return "municipality-" + "-".join(self.lg_codes)
        return self.role.value


def load_config(path: Path) -> NodeConfig:
    """Read and validate a node's TOML configuration."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "file", f"cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "file", f"not valid TOML: {exc}") from None
    return parse_config(raw, path.resolve())


def parse_config(raw: dict[str, Any], source: Path) -> NodeConfig:
    """Validate parsed TOML; relative paths are resolved against ``source``'s folder."""
    base = source.parent

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(source, key, message)

    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})")
    role_text = _required(raw, "role", str, fail)
    try:
        role = Role(role_text)
    except ValueError:
        raise fail(
            "role", f"{role_text!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None
    database_url = _database_url(_required(raw, "database_url", str, fail), base, fail)
    pki_dir = (base / _required(raw, "pki_dir", str, fail)).resolve()
    files_dir = (base / _optional_text(raw, "files_dir", "files", fail)).resolve()
    host, port = _listen(raw.get("listen", {}), role, fail)
    lg_codes = _lg_codes(raw.get("lg_codes"), role, fail)
    peers = _peers(raw.get("peers", {}), fail)
    config = NodeConfig(
        source=source,
        role=role,
        database_url=database_url,
        pki_dir=pki_dir,
        files_dir=files_dir,
        listen_host=host,
        listen_port=port,
        peers=peers,
        lg_codes=lg_codes,
        heartbeat_seconds=_positive(raw, "heartbeat_seconds", 10.0, fail),
        timeout_seconds=_positive(raw, "timeout_seconds", 30.0, fail),
    )
    _require_routes(config, fail)
    return config


def _required(raw: dict[str, Any], key: str, kind: type[T], fail: Fail) -> T:
    if key not in raw:
        raise fail(key, "missing")
    value = raw[key]
    if not isinstance(value, kind) or (kind is str and not value):
        raise fail(key, f"must be a non-empty {kind.__name__}")
    return value


def _optional_text(raw: dict[str, Any], key: str, default: str, fail: Fail) -> str:
    return _required(raw, key, str, fail) if key in raw else default


def _database_url(url: str, base: Path, fail: Fail) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise fail("database_url", f"not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise fail("database_url", f"backend {backend!r} is not sqlite or postgresql")
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise fail("database_url", "a node needs a database file, not an in-memory one")
        if not Path(database).is_absolute():
            return parsed.set(database=str((base / database).resolve())).render_as_string(
                hide_password=False
            )
    return url


def _listen(listen: Any, role: Role, fail: Fail) -> tuple[str, int]:
    if not isinstance(listen, dict):
        raise fail("listen", "must be a table with host and port")
    unknown = sorted(set(listen) - _LISTEN_KEYS)
    if unknown:
        raise fail(f"listen.{unknown[0]}", "unknown key (expected host, port)")
    host = listen.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        raise fail("listen.host", "must be a non-empty string")
    port = listen.get("port", DEFAULT_PORTS[role])
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail("listen.port", f"{port!r} is not a port number (1-65535)")
    return host, port


def _lg_codes(value: Any, role: Role, fail: Fail) -> tuple[str, ...]:
    if role is not Role.MUNICIPALITY:
        if value is not None:
            raise fail("lg_codes", f"only a municipality node hosts municipalities, not {role}")
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail("lg_codes", "a municipality node needs a list of one or more lg codes")
    codes: list[str] = []
    for i, code in enumerate(value):
        if not isinstance(code, str):
            raise fail(f"lg_codes[{i}]", f'{code!r} must be a string such as "131016"')
        try:
            codes.append(reference.municipality(code).lg_code)
        except RuleViolation as exc:
            raise fail(f"lg_codes[{i}]", exc.message) from None
    if len(set(codes)) != len(codes):
        raise fail("lg_codes", "a municipality is listed twice")
    return tuple(codes)


def _peer_key_ok(key: str) -> bool:
    if key in {NATIONAL_NODE, PREFECTURE_NODE, "*", f"{Role.MUNICIPALITY.value}/*"}:
        return True
    role, _, lg_code = key.partition("/")
    if role != Role.MUNICIPALITY.value:
        return False
    try:
        reference.municipality(lg_code)
    except RuleViolation:
        return False
    return True


def _peers(value: Any, fail: Fail) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail("peers", "must be a table of node id = https URL")
    peers: dict[str, str] = {}
    for key, url in value.items():
        if not _peer_key_ok(key):
            raise fail(
                f"peers.{key}",
                'not a node id: "national", "prefecture", "municipality/<lg code>", '
                '"municipality/*" or "*"',
            )
        if not isinstance(url, str) or not url.startswith("https://") or len(url) <= 8:
            raise fail(f"peers.{key}", f"{url!r} must be an https:// URL (mutual TLS)")
        peers[key] = url.rstrip("/")
    return peers


def _positive(raw: dict[str, Any], key: str, default: float, fail: Fail) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise fail(key, f"{value!r} must be a positive number of seconds")
    return float(value)


def _require_routes(config: NodeConfig, fail: Fail) -> None:
    """Every receiver the role sends to must have a URL, or its outbox would only grow."""
    needed = {
        Role.NATIONAL: ["municipality/*"],
        Role.PREFECTURE: [NATIONAL_NODE],
        Role.MUNICIPALITY: [PREFECTURE_NODE, NATIONAL_NODE],
    }[config.role]
    for node_id in needed:
        if node_id == "municipality/*":
            if not any(k.startswith("municipality/") or k == "*" for k in config.peers):
                raise fail("peers", "the national center needs a route to the municipalities")
        elif peer_url(config.peers, node_id) is None:
            raise fail("peers", f"no URL for {node_id}, which a {config.role} node sends to")

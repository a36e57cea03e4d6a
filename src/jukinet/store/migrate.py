"""Bring a node's database to the newest schema with Alembic (numbered migrations, one head)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from jukinet.store.provision_log import is_partition_name

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one transaction."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


def include_name(name: str | None, type_: str, _parents: Mapping[Any, str | None]) -> bool:
    """What schema comparison looks at: not the provision log's monthly partitions (created
    at run time, so not declared in the metadata)."""
    return not (type_ == "table" and name is not None and is_partition_name(name))

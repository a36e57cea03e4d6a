"""One ``Settings`` object for every node, read from ``JUKINET_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from jukinet.store.db import sqlite_url


class Settings(BaseSettings):
    """Where a node keeps its data and how it reaches its database."""

    model_config = SettingsConfigDict(env_prefix="JUKINET_")

    home: Path = Field(default=Path("var"), description="data directory (JUKINET_HOME)")
    municipal_database_url: str | None = Field(
        default=None,
        description="one database for every municipality hosted here (a shared municipal "
        "cloud); default: one SQLite file per municipality under JUKINET_HOME",
    )

    def municipal_url(self, lg_code: str) -> str:
        if self.municipal_database_url:
            return self.municipal_database_url
        return sqlite_url(self.home.resolve() / "municipalities" / f"{lg_code}.db")

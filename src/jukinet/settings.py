"""One ``Settings`` object for every node, read from ``JUKINET_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where a node keeps its data and how it reaches its database."""

    model_config = SettingsConfigDict(env_prefix="JUKINET_")

    home: Path = Field(default=Path("var"), description="data directory (JUKINET_HOME)")

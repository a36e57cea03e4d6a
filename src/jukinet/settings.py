"""One ``Settings`` object for every node, read from ``JUKINET_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where a node keeps its data and how it reaches its database."""

    model_config = SettingsConfigDict(env_prefix="JUKINET_")

    home: Path = Field(default=Path("var"), description="data directory (JUKINET_HOME)")
    operators_db: str | None = Field(
        default=None,
        description="database URL of the operator directory (default: HOME/operators.db)",
    )
    webauthn_rp_id: str = Field(default="localhost", description="WebAuthn relying party id")
    webauthn_rp_name: str = Field(default="住基ネット", description="WebAuthn relying party name")
    webauthn_origins: list[str] = Field(
        default=["http://localhost:8000"],
        description="origins the operators' browsers use (JSON list in the environment)",
    )

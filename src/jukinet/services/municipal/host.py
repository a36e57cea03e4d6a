"""A municipal host: one process serving several municipalities, each isolated by lg code."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from jukinet.clock import Clock
from jukinet.domain import reference
from jukinet.domain.errors import RuleViolation
from jukinet.services.municipal.register import MunicipalRegister
from jukinet.settings import Settings
from jukinet.store.db import make_engine
from jukinet.store.migrate import upgrade


class MunicipalHost:
    """Opens (and migrates) each hosted municipality's database once."""

    def __init__(self, settings: Settings, clock: Clock, lg_codes: Iterable[str]) -> None:
        self.settings = settings
        self.clock = clock
        self.lg_codes = tuple(reference.municipality(c).lg_code for c in lg_codes)
        self._engines: dict[str, Engine] = {}

    def engine(self, lg_code: str) -> Engine:
        if lg_code not in self.lg_codes:
            raise RuleViolation("lg_code", "not_hosted", f"{lg_code} is not hosted on this node")
        url = self.settings.municipal_url(lg_code)
        if url not in self._engines:
            engine = make_engine(url)
            upgrade(engine)
            self._engines[url] = engine
        return self._engines[url]

    def register(self, lg_code: str) -> MunicipalRegister:
        return MunicipalRegister(self.engine(lg_code), lg_code, self.clock)

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

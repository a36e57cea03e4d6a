"""Dependency aliases the routes ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from jukinet.services.municipal.host import MunicipalHost


def _host(request: Request) -> MunicipalHost:
    host: MunicipalHost = request.app.state.host
    return host


HostDep = Annotated[MunicipalHost, Depends(_host)]

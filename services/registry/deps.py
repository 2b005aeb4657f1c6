"""Typed FastAPI dependencies of the registry (docs/registry.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.core.db import transaction
from services.core.web import require_token
from services.registry.chain import RegistryChain
from services.registry.settings import RegistrySettings


def get_settings(request: Request) -> RegistrySettings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request owns the transaction: commit on success, roll back on any error.

    Used only as ``SessionDep`` (``scope="function"``): the commit happens after the route
    returns and *before* the response is sent, so a client that saw 2xx can read what it
    wrote on its next request, on any replica, and a process killed after answering has
    lost nothing. (Since FastAPI 0.118 a ``yield`` dependency's exit code runs after the
    response by default; a failed commit would then follow a 2xx already on the wire.)
    """
    with transaction(request.app.state.sessions) as session:
        yield session


def get_chain(request: Request) -> RegistryChain | None:
    return request.app.state.chain


def get_owner(request: Request) -> str:
    return request.app.state.owner_address


def require_service_token(request: Request, settings: Annotated[RegistrySettings, Depends(get_settings)]) -> None:
    require_token(request, settings.secret("service_token"), "service token")


SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ChainDep = Annotated[RegistryChain | None, Depends(get_chain)]
OwnerDep = Annotated[str, Depends(get_owner)]
ServiceAuth = Depends(require_service_token)

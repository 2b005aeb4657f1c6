"""Routes of an issuer's API keys (scope ``manage``; docs/issuer.md, "API keys")."""

from __future__ import annotations


from fastapi import APIRouter

from services.issuer.deps import Managing, SessionDep
from services.issuer.routing import ResourceId
from services.issuer.apikeys import service
from services.issuer.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead

api = APIRouter(prefix="/api/v1")


@api.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, principal: Managing, session: SessionDep) -> ApiKeyCreated:
    return service.create_api_key(session, principal.issuer, body)


@api.get("/api-keys", response_model=list[ApiKeyRead])
def list_api_keys(principal: Managing, session: SessionDep) -> list[ApiKeyRead]:
    return service.list_api_keys(session, principal.issuer)


@api.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead)
def revoke_api_key(key_id: ResourceId, principal: Managing, session: SessionDep) -> ApiKeyRead:
    return service.revoke_api_key(session, principal.issuer, key_id)

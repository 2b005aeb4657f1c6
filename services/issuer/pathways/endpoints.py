"""Routes of external components (scope ``issue`` to submit, ``read`` to list; docs/pathways.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from services.core.errors import NotFound, PayloadTooLarge
from services.issuer.deps import Issuing, Reading, SessionDep, SettingsDep
from services.issuer.learners import repository as learners_repo
from services.issuer.models import ExternalCredential
from services.issuer.pathways import external, repository as repo
from services.issuer.routing import ResourceId

api = APIRouter(prefix="/api/v1")


class ExternalRead(BaseModel):
    id: str
    learner_id: str
    state: str  # valid | pending | revoked | suspended | expired | invalid
    counts: bool
    reason: str | None
    credential_url: str | None
    credential_hash: str
    issuer: str
    achievement: str
    checked_at: datetime | None
    created_at: datetime


class ExternalList(BaseModel):
    items: list[ExternalRead]


def _read(row: ExternalCredential) -> ExternalRead:
    return ExternalRead(id=row.id, learner_id=row.learner_id, state=row.state, counts=row.state == "valid",
                        reason=row.reason, credential_url=row.credential_url, credential_hash=row.credential_hash,
                        issuer=row.issuer_did, achievement=row.achievement_url, checked_at=row.checked_at,
                        created_at=row.created_at)


async def _body(request: Request) -> tuple[bytes, str]:
    data = await request.body()
    if len(data) > 2 * 1024 * 1024:
        raise PayloadTooLarge("the body is larger than 2 MiB")
    return data, request.headers.get("content-type", "application/json").lower()


@api.post("/learners/{learner_id}/credentials/external", response_model=ExternalRead, status_code=201,
          openapi_extra={"requestBody": {"content": {
              "application/json": {"schema": {"type": "object", "properties": {
                  "credential": {"type": "object"}, "email": {"type": "string"}}, "required": ["credential"]}},
              "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
def submit_external(learner_id: ResourceId, request: Request, principal: Issuing, session: SessionDep,
                    settings: SettingsDep, response: Response, body: Annotated[tuple[bytes, str], Depends(_body)],
                    email: Annotated[str | None, Query(max_length=320)] = None) -> ExternalRead:
    """A credential of another issuer for this learner: counts toward pathways while it verifies."""
    data, content_type = body
    credential, given_email = external.read_upload(data, content_type)
    before = repo.externals(session, principal.issuer.id, learner_id) if learners_repo.learner(
        session, principal.issuer.id, learner_id) is not None else []
    row = external.submit(session, settings, principal.issuer, learner_id, credential, given_email or email,
                          request.app.state.verifier)
    if any(b.id == row.id for b in before):
        response.status_code = 200
    return _read(row)


@api.get("/learners/{learner_id}/credentials/external", response_model=ExternalList)
def list_external(learner_id: ResourceId, principal: Reading, session: SessionDep) -> ExternalList:
    if learners_repo.learner(session, principal.issuer.id, learner_id) is None:
        raise NotFound(f"no learner {learner_id!r} for this issuer")
    return ExternalList(items=[_read(r) for r in repo.externals(session, principal.issuer.id, learner_id)])

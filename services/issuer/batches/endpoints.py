"""Routes of batches: issue to many recipients, follow the progress (docs/issuer.md, "Bulk issuance")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from services.issuer.deps import IdempotencyKey, Issuing, Reading, SessionDep, SettingsDep
from services.issuer.routing import ResourceId, wake
from services.issuer.batches import service
from services.issuer.batches.schemas import BatchCreate, BatchRead

api = APIRouter(prefix="/api/v1")


@api.post("/credentials/batch", status_code=202, response_model=BatchRead)
def issue_batch(body: BatchCreate, principal: Issuing, session: SessionDep, settings: SettingsDep,
                idempotency_key: IdempotencyKey, response: Response, request: Request,
                tasks: BackgroundTasks) -> BatchRead:
    """Issue to many recipients: bad rows are reported, good rows issued in the background."""
    batch, created = service.create_batch(session, settings, principal.issuer, body, idempotency_key)
    if created:
        tasks.add_task(wake, request, "wake_batches")
    else:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/credentials/batches/{batch.id}"
    return batch


@api.get("/credentials/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: ResourceId, principal: Reading, session: SessionDep, settings: SettingsDep,
              offset: Annotated[int, Query(ge=0)] = 0,
              limit: Annotated[int, Query(ge=0, le=10_000)] = 1000) -> BatchRead:
    return service.get_batch(session, settings, principal.issuer, batch_id, offset, limit)

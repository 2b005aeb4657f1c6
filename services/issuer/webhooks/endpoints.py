"""Routes of webhooks (docs/webhooks.md): ``manage`` to change them, ``read`` to read. Another issuer's is 404."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response

from services.issuer.deps import Managing, Reading, SessionDep, SettingsDep
from services.issuer.routing import ResourceId, wake
from services.issuer.webhooks import service
from services.issuer.webhooks.schemas import DeliveryList, DeliveryRead, WebhookCreate, WebhookCreated, WebhookList

api = APIRouter(prefix="/api/v1")
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]


@api.post("/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, principal: Managing, session: SessionDep,
                   settings: SettingsDep) -> WebhookCreated:
    """Register a URL for some events; the signing secret is in this answer only."""
    return service.create(session, settings, principal.issuer, body)


@api.get("/webhooks", response_model=WebhookList)
def list_webhooks(principal: Reading, session: SessionDep) -> WebhookList:
    return service.list_endpoints(session, principal.issuer)


@api.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: ResourceId, principal: Managing, session: SessionDep) -> Response:
    """The endpoint and its delivery log; nothing more is sent to it."""
    service.delete(session, principal.issuer, webhook_id)
    return Response(status_code=204)


@api.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
def list_deliveries(webhook_id: ResourceId, principal: Reading, session: SessionDep,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                    state: Literal["pending", "delivered", "failed"] | None = None) -> DeliveryList:
    """The delivery log, newest first."""
    return service.deliveries(session, principal.issuer, webhook_id, limit, before, state)


@api.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202,
          response_model=DeliveryRead)
def redeliver(webhook_id: ResourceId, delivery_id: DeliveryId, principal: Managing, session: SessionDep,
              request: Request, tasks: BackgroundTasks) -> DeliveryRead:
    """Send the event again (same ``webhook-id``, same body)."""
    delivery = service.redeliver(session, principal.issuer, webhook_id, delivery_id)
    # A background task runs after the response, so after the commit: woken earlier, the
    # deliverer would not see the new delivery yet and go back to sleep for an interval.
    tasks.add_task(wake, request, "wake_webhooks")
    return delivery

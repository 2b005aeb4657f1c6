"""Bodies of the webhook routes (docs/webhooks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.issuer.schemas import Strict
from services.issuer.webhooks.events import EVENT_TYPES

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # unknown names: 422
# Checked for scheme, host and address by services.core.urlsafety in the service (a 422 saying why).
WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class WebhookCreate(Strict):
    url: WebhookUrl
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))


class WebhookRead(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(description="shown once: whsec_ + base64 of the HMAC-SHA256 key; store it now")


class WebhookList(BaseModel):
    items: list[WebhookRead]


class DeliveryRead(BaseModel):
    id: int
    event_id: str = Field(description="the webhook-id header: the same on every attempt and redelivery")
    event_type: str
    subject_id: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when it is tried next (pending only)")
    delivered_at: datetime | None
    created_at: datetime
    payload: dict = Field(description="the body as sent")


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")

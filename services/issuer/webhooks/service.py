"""Webhook endpoints and their delivery logs: register, list, delete, read, redeliver (docs/webhooks.md).

A URL is checked when it is registered (a clear 422) and again before every attempt (the
deliverer): the same rules as the verifier's fetches (services.core.urlsafety), with loopback
allowed in development and private addresses only for ``MICROCRED_TRUSTED_HOSTS``.
"""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session

from services.core import secretbox, urlsafety
from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound
from services.issuer.ids import new_id
from services.issuer.models import Issuer, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookState
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import repository as repo, signatures
from services.issuer.webhooks.schemas import (DeliveryList, DeliveryRead, WebhookCreate, WebhookCreated, WebhookList,
                                              WebhookRead)

MAX_ENDPOINTS = 20


def associated_data(endpoint_id: str) -> str:
    """Bound into the sealed secret: copied onto another endpoint's row, it does not open."""
    return f"webhook-secret:{endpoint_id}"


def open_secret(settings: IssuerSettings, endpoint: WebhookEndpoint) -> str:
    return secretbox.open_sealed(settings.secret("key_encryption_key"), endpoint.sealed_secret,
                                 associated_data(endpoint.id)).decode()


def url_rules(settings: IssuerSettings) -> dict:
    """The keyword arguments of urlsafety's checks for a webhook URL."""
    return {"trusted_hosts": urlsafety.parse_hosts(settings.trusted_hosts),
            "allow_loopback": settings.env == "development"}


def check_url(settings: IssuerSettings, url: str) -> None:
    try:
        urlsafety.check_url_blocking(url, **url_rules(settings))
    except urlsafety.FetchRefused as exc:
        raise InvalidInput(f"url: {exc}", code="url_refused") from None


def create(session: Session, settings: IssuerSettings, issuer: Issuer, body: WebhookCreate) -> WebhookCreated:
    check_url(settings, body.url)
    repo.lock_issuer(session, issuer.id)  # two concurrent registrations cannot both pass the count
    if repo.count_endpoints(session, issuer.id) >= MAX_ENDPOINTS:
        raise Conflict(f"an issuer has at most {MAX_ENDPOINTS} webhooks; delete one first", code="too_many_webhooks")
    endpoint_id = new_id("whk")
    secret = signatures.new_secret()
    row = WebhookEndpoint(id=endpoint_id, issuer_id=issuer.id, url=body.url, events=sorted(set(body.events)),
                          sealed_secret=secretbox.seal(settings.secret("key_encryption_key"), secret.encode(),
                                                       associated_data(endpoint_id)),
                          created_at=utcnow())
    repo.add_endpoint(session, row)
    return WebhookCreated(**_read(row).model_dump(), secret=secret)


def _read(row: WebhookEndpoint) -> WebhookRead:
    return WebhookRead(id=row.id, url=row.url, events=list(row.events), created_at=row.created_at)


def list_endpoints(session: Session, issuer: Issuer) -> WebhookList:
    return WebhookList(items=[_read(row) for row in repo.endpoints_of(session, issuer.id)])


def _endpoint(session: Session, issuer: Issuer, endpoint_id: str) -> WebhookEndpoint:
    row = repo.endpoint(session, issuer.id, endpoint_id)
    if row is None:
        raise NotFound(f"no webhook {endpoint_id!r} for this issuer")
    return row


def delete(session: Session, issuer: Issuer, endpoint_id: str) -> None:
    if not repo.delete_endpoint(session, issuer.id, endpoint_id):
        raise NotFound(f"no webhook {endpoint_id!r} for this issuer")


def _delivery(d: WebhookDelivery, e: WebhookEvent) -> DeliveryRead:
    return DeliveryRead(id=d.id, event_id=e.id, event_type=e.type, subject_id=d.subject_id, state=d.state.value,
                        attempts=d.attempts, last_status_code=d.last_status_code, last_error=d.last_error,
                        last_attempt_at=d.last_attempt_at,
                        next_attempt_at=d.next_attempt_at if d.state == WebhookState.pending else None,
                        delivered_at=d.delivered_at, created_at=d.created_at, payload=orjson.loads(e.body))


def deliveries(session: Session, issuer: Issuer, endpoint_id: str, limit: int, before: int | None,
               state: str | None) -> DeliveryList:
    _endpoint(session, issuer, endpoint_id)
    rows = repo.deliveries_page(session, issuer.id, endpoint_id, limit, before,
                                WebhookState(state) if state else None)
    items = [_delivery(d, e) for d, e in rows]
    return DeliveryList(items=items, next_before=items[-1].id if len(items) == limit else None)


def redeliver(session: Session, issuer: Issuer, endpoint_id: str, delivery_id: int) -> DeliveryRead:
    """Queue the event again for this endpoint: a new delivery, the same event id and body.

    409 ``delivery_pending`` while the delivery is still being tried (it will be sent anyway).
    """
    _endpoint(session, issuer, endpoint_id)
    found = repo.delivery(session, issuer.id, endpoint_id, delivery_id)
    if found is None:
        raise NotFound(f"no delivery {delivery_id} for this webhook")
    old, event = found
    if old.state == WebhookState.pending:
        raise Conflict("this delivery is still pending: it is retried on its own", code="delivery_pending")
    now = utcnow()
    row = repo.add_delivery(session, WebhookDelivery(endpoint_id=endpoint_id, issuer_id=issuer.id, event_id=event.id,
                                                     subject_id=old.subject_id, state=WebhookState.pending,
                                                     attempts=0, next_attempt_at=now, created_at=now))
    return _delivery(row, event)

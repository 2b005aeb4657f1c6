"""Webhook endpoints, events and deliveries in the database. Every tenant lookup takes the issuer id.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from services.issuer.models import Issuer, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookState


# -- endpoints ----------------------------------------------------------------------------------
def add_endpoint(session: Session, row: WebhookEndpoint) -> None:
    session.add(row)
    session.flush()


def endpoints_of(session: Session, issuer_id: str) -> Sequence[WebhookEndpoint]:
    return session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.issuer_id == issuer_id)
                           .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)).all()


def count_endpoints(session: Session, issuer_id: str) -> int:
    return int(session.scalar(select(func.count()).where(WebhookEndpoint.issuer_id == issuer_id)) or 0)


def endpoint(session: Session, issuer_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    return session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.issuer_id == issuer_id,
                                                        WebhookEndpoint.id == endpoint_id))


def delete_endpoint(session: Session, issuer_id: str, endpoint_id: str) -> bool:
    """The endpoint and its delivery log; True if it existed. Events stay (another endpoint may share them)."""
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.issuer_id == issuer_id,
                                                  WebhookDelivery.endpoint_id == endpoint_id))
    result = session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.issuer_id == issuer_id,
                                                           WebhookEndpoint.id == endpoint_id))
    return result.rowcount == 1


def subscribed(session: Session, issuer_id: str, event_type: str) -> list[str]:
    """Ids of the issuer's endpoints that want ``event_type`` (few per issuer: filtered here, not in SQL JSON)."""
    rows = session.execute(select(WebhookEndpoint.id, WebhookEndpoint.events)
                           .where(WebhookEndpoint.issuer_id == issuer_id).order_by(WebhookEndpoint.id)).all()
    return [endpoint_id for endpoint_id, events in rows if event_type in (events or ())]


def issuer_did(session: Session, issuer_id: str) -> str | None:
    return session.scalar(select(Issuer.did).where(Issuer.id == issuer_id))


# -- events and deliveries --------------------------------------------------------------------
def add_events(session: Session, events: list[dict], deliveries: list[dict]) -> None:
    if events:
        session.execute(insert(WebhookEvent), events)
    if deliveries:
        session.execute(insert(WebhookDelivery), deliveries)


def deliveries_page(session: Session, issuer_id: str, endpoint_id: str, limit: int,
                    before: int | None, state: WebhookState | None) -> Sequence[tuple[WebhookDelivery, WebhookEvent]]:
    """Newest first."""
    query = (select(WebhookDelivery, WebhookEvent).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.issuer_id == issuer_id, WebhookDelivery.endpoint_id == endpoint_id))
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    return session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all()


def delivery(session: Session, issuer_id: str, endpoint_id: str,
             delivery_id: int) -> tuple[WebhookDelivery, WebhookEvent] | None:
    return session.execute(
        select(WebhookDelivery, WebhookEvent).join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.issuer_id == issuer_id, WebhookDelivery.endpoint_id == endpoint_id,
               WebhookDelivery.id == delivery_id)).first()


def add_delivery(session: Session, row: WebhookDelivery) -> WebhookDelivery:
    session.add(row)
    session.flush()
    return row


# -- the deliverer ---------------------------------------------------------------------------
def work_due(session: Session, now: datetime) -> bool:
    return bool(session.scalar(select(exists().where(WebhookDelivery.state == WebhookState.pending,
                                                     WebhookDelivery.next_attempt_at <= now))))


def eligible(session: Session, now: datetime, resting: Sequence[str], limit: int) -> list[tuple[int, str]]:
    """(id, endpoint) of due deliveries with no earlier pending one for the same endpoint and subject, in order.

    The "no earlier one" rule is what keeps events about one credential in order: the second
    waits, whatever its own due time, while the first is pending or retrying.
    """
    earlier = aliased(WebhookDelivery)
    query = (select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
             .where(WebhookDelivery.state == WebhookState.pending, WebhookDelivery.next_attempt_at <= now,
                    ~exists().where(earlier.state == WebhookState.pending,
                                    earlier.endpoint_id == WebhookDelivery.endpoint_id,
                                    earlier.subject_id == WebhookDelivery.subject_id,
                                    earlier.id < WebhookDelivery.id)))
    if resting:
        query = query.where(WebhookDelivery.endpoint_id.not_in(list(resting)))
    return [tuple(r) for r in session.execute(query.order_by(WebhookDelivery.id).limit(limit))]


def for_sending(session: Session, ids: Sequence[int]) -> list[tuple[int, str, str, str, int, datetime]]:
    """(id, endpoint id, event id, body, attempts, created) of these deliveries still pending, in order."""
    return [tuple(r) for r in session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookEvent.id, WebhookEvent.body,
               WebhookDelivery.attempts, WebhookDelivery.created_at)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(list(ids)), WebhookDelivery.state == WebhookState.pending)
        .order_by(WebhookDelivery.id))]


def endpoints_by_id(session: Session, ids: Sequence[str]) -> dict[str, WebhookEndpoint]:
    return {e.id: e for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(list(ids))))}


def attempted(session: Session, delivery_id: int, *, now: datetime, status_code: int | None, error: str | None,
              state: WebhookState, next_attempt_at: datetime | None) -> None:
    """One attempt's outcome; only a delivery still pending is changed (it may be gone: endpoint deleted)."""
    values = dict(attempts=WebhookDelivery.attempts + 1, last_attempt_at=now, last_status_code=status_code,
                  last_error=error, state=state)
    if state == WebhookState.delivered:
        values["delivered_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                  WebhookDelivery.state == WebhookState.pending)
                    .values(**values).execution_options(synchronize_session=False))

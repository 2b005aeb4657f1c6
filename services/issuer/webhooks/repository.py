"""Webhook endpoints, events and deliveries in the database. Every tenant lookup takes the issuer id.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from services.core import wakeup
from services.issuer.models import Issuer, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookState

# NOTIFY'd with every delivery written (PostgreSQL): the deliverer resting with nothing pending wakes.
WEBHOOK_CHANNEL = "microcred_issuer_webhooks"


# -- endpoints ----------------------------------------------------------------------------------
def add_endpoint(session: Session, row: WebhookEndpoint) -> None:
    session.add(row)
    session.flush()


def endpoints_of(session: Session, issuer_id: str) -> Sequence[WebhookEndpoint]:
    return session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.issuer_id == issuer_id)
                           .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)).all()


def lock_issuer(session: Session, issuer_id: str) -> None:
    """Hold the issuer's row until the commit, so a read-then-insert per issuer is not raced.

    A no-change UPDATE rather than SELECT … FOR UPDATE: it locks the row on PostgreSQL (a non-key
    column, so inserts that reference the issuer are not blocked) and, on SQLite, makes this
    transaction the writer at once (waiting for any other), which FOR UPDATE cannot.
    """
    session.execute(update(Issuer).where(Issuer.id == issuer_id).values(name=Issuer.name)
                    .execution_options(synchronize_session=False))


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
        wakeup.notify(session, WEBHOOK_CHANNEL)


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
    wakeup.notify(session, WEBHOOK_CHANNEL)  # a redelivery ends the deliverer's rest too
    return row


# -- the deliverer ---------------------------------------------------------------------------
def work_state(session: Session, now: datetime) -> tuple[bool, bool]:
    """(a delivery is due now, any delivery is pending at all): one query."""
    pending = WebhookDelivery.state == WebhookState.pending
    due, outstanding = session.execute(select(exists().where(pending, WebhookDelivery.next_attempt_at <= now),
                                              exists().where(pending))).one()
    return bool(due), bool(outstanding)


def eligible(session: Session, now: datetime, resting: Sequence[str], limit: int) -> list[tuple[int, str]]:
    """(id, endpoint) of due, unclaimed deliveries with no earlier pending one for the same endpoint and subject.

    The "no earlier one" rule is what keeps events about one credential in order: the second
    waits, whatever its own due time, while the first is pending, retrying or being sent.
    """
    earlier = aliased(WebhookDelivery)
    query = (select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
             .where(WebhookDelivery.state == WebhookState.pending, WebhookDelivery.next_attempt_at <= now,
                    _unclaimed(now),
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


def _unclaimed(now: datetime):
    return or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now)


def claim(session: Session, delivery_id: int, holder: str, now: datetime, until: datetime) -> bool:
    """Take this delivery for one attempt, unless another deliverer holds it; True when ``holder`` has it.

    One conditional UPDATE decides, on SQLite and PostgreSQL alike.
    """
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.state == WebhookState.pending,
               WebhookDelivery.next_attempt_at <= now, _unclaimed(now))
        .values(claimed_by=holder, claimed_until=until).execution_options(synchronize_session=False))
    return result.rowcount == 1


def attempted(session: Session, delivery_id: int, holder: str, *, now: datetime, status_code: int | None,
              error: str | None, state: WebhookState, next_attempt_at: datetime | None) -> bool:
    """One attempt's outcome, and the claim released; False when ``holder`` no longer held the claim.

    Only a delivery still pending and claimed by ``holder`` is changed (it may be gone: endpoint deleted).
    """
    values = dict(attempts=WebhookDelivery.attempts + 1, last_attempt_at=now, last_status_code=status_code,
                  last_error=error, state=state, claimed_by=None, claimed_until=None)
    if state == WebhookState.delivered:
        values["delivered_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                           WebhookDelivery.state == WebhookState.pending,
                                                           WebhookDelivery.claimed_by == holder)
                             .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1


def prune(session: Session, before: datetime, limit: int) -> tuple[int, int]:
    """Delete up to ``limit`` finished deliveries queued before ``before``, then events no delivery needs.

    (deliveries, events) deleted. An event is kept while any delivery of it remains (a pending
    one, or a newer redelivery).
    """
    ids = list(session.scalars(select(WebhookDelivery.id)
                               .where(WebhookDelivery.created_at < before,
                                      WebhookDelivery.state.in_([WebhookState.delivered, WebhookState.failed]))
                               .order_by(WebhookDelivery.created_at).limit(limit)))
    if ids:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                        .execution_options(synchronize_session=False))
    events = list(session.scalars(select(WebhookEvent.id)
                                  .where(WebhookEvent.created_at < before,
                                         ~exists().where(WebhookDelivery.event_id == WebhookEvent.id))
                                  .order_by(WebhookEvent.created_at).limit(limit)))
    if events:
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(events))
                        .execution_options(synchronize_session=False))
    return len(ids), len(events)

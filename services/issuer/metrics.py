"""What the issuer's ``/metrics`` measures (docs/operations.md).

At scrape time, from the database (so the outbox relay's and the batch runner's queues show
wherever those run, in the API process or in ``python -m services.issuer.outbox``):

* ``microcred_issuer_outbox_messages{kind, state}``: messages for the registry ``pending``
  (not yet accepted by it) or ``failed`` (refused for good), and
  ``microcred_issuer_outbox_oldest_pending_age_seconds``;
* ``microcred_issuer_batches{state}`` and ``microcred_issuer_batch_rows_pending``: bulk
  issuance still to sign;
* ``microcred_issuer_credentials_unanchored{anchor_state}`` and its oldest age: credentials
  whose hash is not yet in the outbox's hands (``pending``) or not yet anchored (``queued``);
* ``microcred_issuer_status_lists_unpublished`` and
  ``microcred_issuer_status_list_oldest_unpublished_seconds``: lists with changes not yet in a
  signed version, and the longest time since such a list's newest version;
* ``microcred_issuer_outbox_relay_up``: 1 while some relay holds its lease;
* ``microcred_issuer_webhook_deliveries{state}`` (``pending``: still to be answered 2xx;
  ``failed``: gave up after the retry window) and ``microcred_issuer_webhook_oldest_pending_age_seconds``
  (docs/webhooks.md).

Counted where it happens, by the process that holds the relay's lease (one at a time):
``microcred_issuer_issue_to_anchor_seconds``, the time from a credential's issuance to the
block that anchors it, observed when the relay attaches the anchor proof.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.core.db import UTCDateTime, utcnow
from services.core.metrics import DbCollector
from services.issuer.models import (AnchorState, Batch, BatchState, Credential, Lease, OutboxMessage, OutboxState,
                                    StatusList, WebhookDelivery, WebhookState)

RELAY_LEASE = "issuer-outbox"  # services.issuer.outbox.LEASE_NAME (not imported: it pulls in the relay)
ISSUE_TO_ANCHOR = Histogram(
    "microcred_issuer_issue_to_anchor_seconds",
    "Time from a credential's issuance to the block that anchors it, observed when its proof is attached.",
    buckets=(1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600))


def observe_anchored(durations: Iterable[timedelta]) -> None:
    for d in durations:
        ISSUE_TO_ANCHOR.observe(max(0.0, d.total_seconds()))


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def measure(session: Session) -> Iterator:
    now = utcnow()
    outbox = GaugeMetricFamily("microcred_issuer_outbox_messages", "Outbox messages for the registry, by kind "
                               "and state (pending: not yet accepted; failed: refused for good).",
                               labels=("kind", "state"))
    for kind, state, count in session.execute(
            select(OutboxMessage.kind, OutboxMessage.state, func.count())
            .where(OutboxMessage.state.in_((OutboxState.pending, OutboxState.failed)))
            .group_by(OutboxMessage.kind, OutboxMessage.state)):
        outbox.add_metric([kind.value, state.value], count)
    yield outbox
    first_pending = session.execute(
        select(OutboxMessage.created_at).where(OutboxMessage.state == OutboxState.pending)
        .order_by(OutboxMessage.id).limit(1)).scalar()
    yield _gauge("microcred_issuer_outbox_oldest_pending_age_seconds",
                 "Age of the oldest pending outbox message (0: none).", _age(now, first_pending))

    batches = GaugeMetricFamily("microcred_issuer_batches", "Bulk issuances not yet done, by state.",
                                labels=("state",))
    found = dict(session.execute(select(Batch.state, func.count())
                                 .where(Batch.state.in_((BatchState.queued, BatchState.running)))
                                 .group_by(Batch.state)).all())
    for state in (BatchState.queued, BatchState.running):
        batches.add_metric([state.value], found.get(state, 0))
    yield batches
    rows = session.execute(select(func.sum(Batch.total - Batch.processed))
                           .where(Batch.state.in_((BatchState.queued, BatchState.running)))).scalar()
    yield _gauge("microcred_issuer_batch_rows_pending", "Recipients of unfinished batches not yet processed.",
                 int(rows or 0))

    unanchored = GaugeMetricFamily("microcred_issuer_credentials_unanchored",
                                   "Credentials without their anchor proof, by anchor state.",
                                   labels=("anchor_state",))
    oldest = GaugeMetricFamily("microcred_issuer_credentials_unanchored_oldest_age_seconds",
                               "Age of the oldest credential without its anchor proof, by anchor state (0: none).",
                               labels=("anchor_state",))
    found = {state: (count, first) for state, count, first in session.execute(
        select(Credential.anchor_state, func.count(), func.min(Credential.created_at))
        .where(Credential.anchor_state != AnchorState.anchored).group_by(Credential.anchor_state))}
    for state in (AnchorState.pending, AnchorState.queued):
        count, first = found.get(state, (0, None))
        unanchored.add_metric([state.value], count)
        oldest.add_metric([state.value], _age(now, first))
    yield unanchored
    yield oldest

    count, published = session.execute(
        select(func.count(), func.min(func.coalesce(StatusList.published_at, StatusList.created_at, type_=UTCDateTime)))
        .where(StatusList.changes > StatusList.published_changes)).one()
    yield _gauge("microcred_issuer_status_lists_unpublished", "Status lists with changes not yet in a signed version.",
                 count)
    yield _gauge("microcred_issuer_status_list_oldest_unpublished_seconds",
                 "Longest time since the newest version of a status list that has unpublished changes (0: none).",
                 _age(now, published))

    lease = session.get(Lease, RELAY_LEASE)
    yield _gauge("microcred_issuer_outbox_relay_up", "1 while an outbox relay holds its lease.",
                 1 if lease is not None and lease.expires_at > now else 0)

    webhooks = GaugeMetricFamily("microcred_issuer_webhook_deliveries", "Webhook deliveries pending (not yet "
                                 "answered 2xx) or failed (given up after the retry window).", labels=("state",))
    pending_count, first_pending = session.execute(
        select(func.count(), func.min(WebhookDelivery.created_at))
        .where(WebhookDelivery.state == WebhookState.pending)).one()
    webhooks.add_metric([WebhookState.pending.value], pending_count)
    failed = session.scalar(select(func.count()).where(WebhookDelivery.state == WebhookState.failed))
    webhooks.add_metric([WebhookState.failed.value], failed or 0)
    yield webhooks
    yield _gauge("microcred_issuer_webhook_oldest_pending_age_seconds",
                 "Age of the oldest pending webhook delivery (0: none).", _age(now, first_pending))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def collector(sessions) -> DbCollector:
    """``sessions``: a callable giving the app's sessionmaker once it has one."""
    return DbCollector("issuer", sessions, measure)

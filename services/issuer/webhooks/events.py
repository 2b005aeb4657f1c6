"""Recording an event: one call, in the transaction of the change it reports (docs/webhooks.md).

``record(session, issuer_id, event_type, subject_id, data)`` writes the event (its stable id
and the exact body every attempt will send) and one delivery per endpoint *of that issuer*
subscribed to the type — nothing at all when none is, so a busy issuer without webhooks pays
one indexed query. Deliveries are numbered in the order they are recorded, which is the order
they reach a receiver per (endpoint, subject); every change of a credential updates its row
before recording, so two transactions about one credential record in commit order.

``data`` is the event's own part; ``record`` adds ``issuer: {id, did}``. For credential events
:func:`credential_ref` is the ``credential`` member every one of them carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.issuer.ids import new_id
from services.issuer.webhooks import repository as repo

CREDENTIAL_ISSUED = "credential.issued"
CREDENTIAL_ANCHORED = "credential.anchored"
CREDENTIAL_REVOKED = "credential.revoked"
CREDENTIAL_SUSPENDED = "credential.suspended"
CREDENTIAL_UNSUSPENDED = "credential.unsuspended"
PATHWAY_AWARDED = "pathway.awarded"
ENDORSEMENT_ADDED = "endorsement.added"
ENDORSEMENT_REVOKED = "endorsement.revoked"
EVENT_TYPES = (CREDENTIAL_ISSUED, CREDENTIAL_ANCHORED, CREDENTIAL_REVOKED, CREDENTIAL_SUSPENDED,
               CREDENTIAL_UNSUSPENDED, PATHWAY_AWARDED, ENDORSEMENT_ADDED, ENDORSEMENT_REVOKED)


def timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def credential_ref(credential_id: str, url: str, achievement_id: str | None, learner_id: str | None,
                   **extra) -> dict:
    """What every credential event says of its credential."""
    return {"id": credential_id, "url": url, "achievement_id": achievement_id, "learner_id": learner_id, **extra}


def issued(session: Session, issuer_id: str, rows: Sequence[dict], endpoints: list[str] | None = None,
           issuer_did: str | None = None) -> list[str]:
    """``credential.issued`` for credential rows as ``credentials.repository.credential_row`` makes them.

    ``endpoints`` (with ``issuer_did``): the subscribed endpoints as the caller has them
    (a single issue's cache, ``credentials.context``) instead of reading them."""
    if endpoints is None:
        endpoints = repo.subscribed(session, issuer_id, CREDENTIAL_ISSUED) if rows else []
    if not rows or not endpoints:
        return []  # no document parsed for nothing
    return record_many(session, issuer_id, CREDENTIAL_ISSUED, [
        (r["id"], {"credential": credential_ref(r["id"], orjson.loads(r["document"])["id"], r["achievement_id"],
                                                r.get("learner_id"), replaces=r.get("replaces"))})
        for r in rows], endpoints=endpoints, issuer_did=issuer_did)


def about(session: Session, c, event_type: str, **data) -> list[str]:
    """An event about a stored credential (``models.Credential``): revoked, suspended, anchored …"""
    ref = credential_ref(c.id, orjson.loads(c.document)["id"], c.achievement_id, c.learner_id)
    return record(session, c.issuer_id, event_type, c.id, {"credential": ref, **data})


def record(session: Session, issuer_id: str, event_type: str, subject_id: str, data: dict) -> list[str]:
    """Record one event; the ids of the events written (one, or none when no endpoint wants it)."""
    return record_many(session, issuer_id, event_type, [(subject_id, data)])


def record_many(session: Session, issuer_id: str, event_type: str, items: Sequence[tuple[str, dict]],
                endpoints: list[str] | None = None, issuer_did: str | None = None) -> list[str]:
    """Record one event per ``(subject_id, data)``, in that order (a batch chunk's credentials);
    ``endpoints`` and ``issuer_did`` as the caller read them already, or read here."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if not items:
        return []
    if endpoints is None:
        endpoints = repo.subscribed(session, issuer_id, event_type)
    if not endpoints:
        return []
    issuer = {"id": issuer_id, "did": issuer_did or repo.issuer_did(session, issuer_id)}
    now = utcnow()
    events, deliveries = [], []
    for subject_id, data in items:
        event_id = new_id("evt")
        body = {"id": event_id, "type": event_type, "timestamp": timestamp(now), "data": {**data, "issuer": issuer}}
        events.append(dict(id=event_id, issuer_id=issuer_id, type=event_type, subject_id=subject_id,
                           body=orjson.dumps(body).decode(), created_at=now))
        deliveries.extend(dict(endpoint_id=endpoint_id, issuer_id=issuer_id, event_id=event_id, subject_id=subject_id,
                               next_attempt_at=now, created_at=now) for endpoint_id in endpoints)
    repo.add_events(session, events, deliveries)
    return [e["id"] for e in events]

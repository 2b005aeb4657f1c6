"""Database leases: who may act as the single writer for a name, until when.

One atomic ``UPDATE … WHERE holder = me OR expires_at < now`` (or an INSERT for a new
name) decides, on SQLite and PostgreSQL alike. Each service keeps its lease rows in its
own table (a model with ``name``, ``holder`` and ``expires_at``) and passes it in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import utcnow


def acquire_lease(session: Session, model: type[Any], name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease ``name``; True when ``holder`` holds it afterwards."""
    now = utcnow()
    result = session.execute(
        update(model).where(model.name == name, (model.holder == holder) | (model.expires_at < now))
        .values(holder=holder, expires_at=now + ttl))
    if result.rowcount == 1:
        return True
    if session.get(model, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(model(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False


def release_lease(session: Session, model: type[Any], name: str, holder: str) -> None:
    """Let the next writer take over at once instead of after the lease runs out."""
    session.execute(update(model).where(model.name == name, model.holder == holder).values(expires_at=utcnow()))

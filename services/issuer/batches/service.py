"""Batches: check every row at once, store the batch, answer (docs/issuer.md, "Bulk issuance").

The good rows are issued in the background by ``batches.runner``.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import InvalidInput, NotFound
from services.issuer import idempotency
from services.issuer.achievements import service as achievements
from services.issuer.batches import repository as repo
from services.issuer.batches.schemas import BatchCreate, BatchCredential, BatchRead, BatchRow, RowError
from services.issuer.credentials import document as cred
from services.issuer.ids import new_id
from services.issuer.models import Batch, BatchState, Issuer
from services.issuer.settings import IssuerSettings


def create_batch(session: Session, settings: IssuerSettings, issuer: Issuer, body: BatchCreate,
                 idempotency_key: str | None) -> tuple[BatchRead, bool]:
    """Check every row now (bad rows are reported, not issued), store the batch, answer at once.

    A background runner signs and stores the good rows in chunks, each chunk its own
    transaction; ``GET /api/v1/credentials/batches/{id}`` shows progress meanwhile.
    """
    if len(body.recipients) > settings.batch_max_recipients:
        raise InvalidInput(f"recipients: at most {settings.batch_max_recipients} per batch "
                           f"(got {len(body.recipients)})", code="batch_too_large")
    fingerprint = idempotency.request_hash("batch", body.model_dump(mode="json"))
    if idempotency_key:
        replay = idempotency.replay(session, issuer, idempotency_key, fingerprint, "batch")
        if replay is not None:
            return get_batch(session, settings, issuer, replay, 0, 1000), False
    achievement = achievements.issuable(session, issuer, body.achievement_id)
    rows, errors = validate_rows(body.recipients)
    now = utcnow()
    batch = Batch(id=new_id("bat"), issuer_id=issuer.id, achievement_id=achievement.id,
                  state=BatchState.queued if rows else BatchState.done, total=len(body.recipients),
                  processed=len(errors), issued=0, failed=len(errors), next_index=0, rows=rows,
                  errors=errors, created_at=now, finished_at=None if rows else now,
                  options={"valid_from": body.valid_from.astimezone(UTC).isoformat() if body.valid_from else None})
    session.add(batch)
    session.flush()
    if idempotency_key:
        idempotency.remember(session, issuer, idempotency_key, fingerprint, "batch", batch.id)
    return _batch_read(session, settings, batch, 0, 1000), True


def validate_rows(recipients: list) -> tuple[list[dict], list[dict]]:
    """(good rows with their index, errors ``{row, reason}``); a repeated email is an error."""
    good: list[dict] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(recipients):
        try:
            row = BatchRow.model_validate(raw)
        except ValueError as exc:
            errors.append({"row": index, "reason": _row_reason(exc)})
            continue
        email = cred.normalize_email(row.email)
        if email in seen:
            errors.append({"row": index, "reason": f"the same email address as row {seen[email]}"})
            continue
        seen[email] = index
        item = {"row": index, "name": row.name, "email": row.email}
        if row.did:
            item["did"] = row.did
        if row.evidence:
            item["evidence"] = [e.model_dump(exclude_none=True) for e in row.evidence]
        good.append(item)
    return good, errors


def _row_reason(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where or 'row'}: {err.get('msg', 'invalid')}")
        return "; ".join(parts)
    return str(exc)


def get_batch(session: Session, settings: IssuerSettings, issuer: Issuer, batch_id: str, offset: int, limit: int) -> BatchRead:
    batch = repo.batch(session, issuer.id, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r} for this issuer")
    return _batch_read(session, settings, batch, offset, limit)


def _batch_read(session: Session, settings: IssuerSettings, batch: Batch, offset: int, limit: int) -> BatchRead:
    issued = repo.batch_credentials(session, batch.id, offset, limit)
    return BatchRead(id=batch.id, state=batch.state.value, achievement_id=batch.achievement_id, total=batch.total,
                     processed=batch.processed, issued=batch.issued, failed=batch.failed, signed=batch.issued,
                     anchored=repo.anchored_count(session, batch.id) if batch.issued else 0,
                     errors=[RowError(**e) for e in sorted(batch.errors or [], key=lambda e: e["row"])],
                     credentials=[BatchCredential(row=r, id=cid, url=cred.credential_url(settings.public_base_url, cid))
                                  for r, cid in issued],
                     created_at=batch.created_at, started_at=batch.started_at, finished_at=batch.finished_at)

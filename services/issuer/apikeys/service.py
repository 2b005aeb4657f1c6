"""API keys of an issuer: create (shown once), list, revoke (docs/issuer.md, "API keys")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import NotFound
from services.issuer.apikeys import repository as repo, tokens
from services.issuer.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from services.issuer.apikeys.tokens import SCOPES
from services.issuer.ids import new_id
from services.issuer.models import ApiKey, Issuer


def add_key(session: Session, issuer_id: str, name: str, scopes: list[str],
            now: datetime) -> tuple[ApiKey, tokens.NewApiKey]:
    """A new key row (added, not flushed) and the key itself, which is shown once."""
    new = tokens.new_api_key()
    row = ApiKey(id=new_id("key"), issuer_id=issuer_id, name=name, prefix=new.display_prefix,
                 key_hash=new.key_hash, scopes=list(scopes), created_at=now)
    session.add(row)
    return row, new


def _api_key_read(k: ApiKey) -> dict:
    return dict(id=k.id, name=k.name, prefix=k.prefix, scopes=list(k.scopes), created_at=k.created_at,
                last_used_at=k.last_used_at, revoked_at=k.revoked_at)


def create_api_key(session: Session, issuer: Issuer, body: ApiKeyCreate) -> ApiKeyCreated:
    row, new = add_key(session, issuer.id, body.name, sorted(set(body.scopes), key=SCOPES.index), utcnow())
    session.flush()
    return ApiKeyCreated(key=new.key, **_api_key_read(row))


def list_api_keys(session: Session, issuer: Issuer) -> list[ApiKeyRead]:
    return [ApiKeyRead(**_api_key_read(k)) for k in repo.api_keys(session, issuer.id)]


def revoke_api_key(session: Session, issuer: Issuer, key_id: str) -> ApiKeyRead:
    """Idempotent, first revocation wins; refused from the next request on (the answer follows the commit)."""
    row = repo.api_key(session, issuer.id, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    if row.revoked_at is None:
        repo.revoke_api_key(session, issuer.id, key_id, utcnow())
        session.refresh(row)
    return ApiKeyRead(**_api_key_read(row))

"""Bodies of the API key routes (docs/issuer.md, "API keys")."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.issuer.schemas import Scope, Strict, Text


class ApiKeyCreate(Strict):
    name: Text(100)
    scopes: list[Scope] = Field(min_length=1, max_length=4)


class ApiKeyRead(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="shown once: store it now")

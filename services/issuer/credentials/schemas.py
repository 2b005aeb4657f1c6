"""Bodies of the credential routes (docs/issuer.md, "Routes")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.issuer.schemas import Did, Email, HttpUrl, Prose, Strict, Text, When


class RecipientIn(Strict):
    name: Text(200)
    email: Email
    did: Did | None = Field(None, description="the learner's DID: the credential's credentialSubject.id")


class EvidenceIn(Strict):
    id: HttpUrl | None = None
    name: Text(500) | None = None
    description: Prose(5_000) | None = None
    narrative: Prose(10_000) | None = None
    genre: Text(200) | None = None
    audience: Text(200) | None = None

    @model_validator(mode="after")
    def _some(self) -> EvidenceIn:
        if not any((self.id, self.name, self.description, self.narrative)):
            raise ValueError("evidence needs at least an id (URL), name, description or narrative")
        return self


class CredentialCreate(Strict):
    achievement_id: Text(40)
    recipient: RecipientIn
    evidence: list[EvidenceIn] | None = Field(None, max_length=10)
    valid_from: When | None = Field(None, description="default: now")


class CredentialRead(BaseModel):
    id: str
    url: str
    status: Literal["pending", "anchored", "revoked", "suspended", "expired", "invalid"]
    credential: dict
    credential_hash: str
    achievement_id: str
    anchored_at: datetime | None
    revoked: bool = False
    revoked_at: datetime | None
    revocation_reason: str | None
    suspended: bool = False
    suspended_at: datetime | None = None
    suspension_reason: str | None = None
    created_at: datetime
    learner_id: str | None = Field(None, description="the learner it was issued to (docs/learners.md); null for "
                                                     "credentials issued before learners")
    replaces: str | None = Field(None, description="renewal: the id of the credential this one succeeds")
    replaced_by: str | None = Field(None, description="renewal: the id of the credential that succeeds this one")


class CredentialList(BaseModel):
    items: list[CredentialRead]
    next_cursor: str | None


class RevokeIn(Strict):
    reason: Text(500)


class SuspendIn(Strict):
    reason: Text(500)


class RenewIn(Strict):
    valid_until: When | None = Field(None, description="the successor's validUntil (default: the achievement's "
                                                       "validity_days from now)")


class CredentialStatusRead(BaseModel):
    revoked: bool
    revokedAt: str | None
    reason: str | None = None
    suspended: bool = False
    suspendedAt: str | None = None
    suspensionReason: str | None = None
    renewedBy: str | None = Field(None, description="the URL of the credential that renewed this one")

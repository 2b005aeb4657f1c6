"""Bodies of the endorser and endorsement routes (docs/endorsements.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.issuer.schemas import Prose, Slug, Strict, Text

MAX_COMMENT = 2_000


class EndorsementCreate(Strict):
    achievement_id: Text(40) | None = Field(None, description="the endorsed achievement (any issuer's)")
    issuer: Slug | None = Field(None, description="the endorsed issuer's slug")
    comment: Prose(MAX_COMMENT) = Field(description="what the endorser says: the endorsementComment")

    @model_validator(mode="after")
    def _one_target(self) -> EndorsementCreate:
        if (self.achievement_id is None) == (self.issuer is None):
            raise ValueError("give exactly one of 'achievement_id' (endorse an achievement) or 'issuer' (an issuer's "
                             "slug: endorse the issuer)")
        return self


class EndorsementRead(BaseModel):
    id: str
    url: str = Field(description="the endorsement's own page at the verifier")
    about: Literal["achievement", "issuer"]
    achievement_id: str | None
    issuer: str = Field(description="the slug of the endorsed issuer (the achievement's, for an achievement)")
    subject: str = Field(description="the EndorsementSubject's id: the achievement's URL or the issuer's DID")
    comment: str
    status: Literal["pending", "anchored", "revoked", "suspended", "expired", "invalid"]
    revoked_at: datetime | None
    created_at: datetime


class EndorsementCreated(EndorsementRead):
    credential: dict = Field(description="the signed EndorsementCredential")
    credential_hash: str


class EndorsementList(BaseModel):
    items: list[EndorsementRead]


class PublicEndorsement(BaseModel):
    """What a verifier needs to find an endorsement: its URL. Everything else it reads from the credential."""

    id: str
    url: str
    about: Literal["achievement", "issuer"]


class PublicEndorsementList(BaseModel):
    items: list[PublicEndorsement]

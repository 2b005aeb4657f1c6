"""Bodies of the issuers routes (docs/issuer.md): the tenant, its signing keys and chain account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from services.issuer.schemas import Email, HttpUrl, Slug, Strict, Text, When, line_text


class IssuerCreate(Strict):
    name: Text(200)
    slug: Slug
    url: HttpUrl
    email: Email
    logo: Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(line_text)] | None = Field(
        None, description="an http(s) URL, or a PNG/SVG as a data: URI (validated, sanitised and hosted here)")
    linkedin_organization_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] | None = None


class RegistryInfo(BaseModel):
    state: Literal["pending", "registering", "active"]
    address: str | None
    chain_id: int | None


class IssuerCreated(BaseModel):
    id: str
    slug: str
    did: str
    api_key: str = Field(description="shown once: store it now")
    api_key_id: str
    profile_url: str
    did_document_url: str
    registry: RegistryInfo


class KeyOnChainRead(BaseModel):
    """Where the key stands on chain, as the registry reports it; ``failed`` states need an operator."""

    registration: Literal["queued", "submitted", "confirmed", "failed", "unknown"]
    registration_error: str | None = None
    retirement: Literal["queued", "submitted", "confirmed", "failed"] | None = None
    retirement_error: str | None = None
    anchors_waiting: int = 0
    problem: str | None = Field(None, description="set when something failed for good: what, in words")


class SigningKeyRead(BaseModel):
    public_key: str
    multikey: str
    verification_method: str
    state: Literal["active", "retired"]
    compromised: bool
    created_at: datetime
    retired_at: datetime | None
    valid_until: datetime | None
    chain: KeyOnChainRead | None = Field(None, description="the key on chain (GET /api/v1/issuer only; null when "
                                                           "the registry could not be asked)")


class IssuerRead(BaseModel):
    id: str
    slug: str
    name: str
    url: str
    email: str
    logo_url: str | None
    linkedin_organization_id: str | None
    did: str
    registry: RegistryInfo
    signing_keys: list[SigningKeyRead]
    chain_problems: list[str] = Field(default_factory=list, description="chain work for this issuer that failed "
                                                                        "for good, or could not be checked")
    created_at: datetime


class KeyRotate(Strict):
    compromised: bool = Field(False, description="the current key leaked: what it signed after compromised_at "
                                                 "becomes invalid")
    compromised_at: When | None = Field(None, description="when it leaked (default now); only with "
                                                                   "compromised")

    @model_validator(mode="after")
    def _check(self) -> KeyRotate:
        if self.compromised_at is not None and not self.compromised:
            raise ValueError("compromised_at is only meaningful with compromised: true")
        return self


class KeyRotated(BaseModel):
    new_key: SigningKeyRead
    retired_key: SigningKeyRead
    invalidated_credentials: int = Field(description="credentials signed after the compromise time")

"""Request and response bodies of the issuer API (docs/issuer.md). ``XCreate`` in, ``XRead`` out.

Hostile input is refused here, once, by the types every request model uses:

* ``Text(n)`` — one line of text people will read (names, reasons, tags): no control
  character at all, no bidirectional control, no lone surrogate (``safejson.unsafe_char``);
  ``Prose(n)`` — the same for multi-line text (descriptions, narratives): tab, newline and
  CRLF allowed. ``Email`` and ``HttpUrl`` follow the one-line rule too.
* ``When`` — a timezone-aware datetime from 1900-01-01T00:00:00Z up to, not including,
  9900-01-01T00:00:00Z: every date is then written with four digits, and a validity of up
  to 100 years (``validity_days`` ≤ 36,500) still ends before year 10000.

A batch with such text in any row is refused whole (422), before anything is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      ValidationError, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from services.core.safejson import BIDI_CONTROLS, describe_char, unsafe_char

_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9900, 1, 1, tzinfo=UTC)  # exclusive
UNSAFE_TEXT = "unsafe_text"  # the pydantic error type of a refused character
ACHIEVEMENT_TYPES = (
    "Achievement", "ApprenticeshipCertificate", "Assessment", "Assignment", "AssociateDegree", "Award", "Badge",
    "BachelorDegree", "Certificate", "CertificateOfCompletion", "Certification", "CommunityService", "Competency",
    "Course", "CoCurricular", "Degree", "Diploma", "DoctoralDegree", "Fieldwork", "GeneralEducationDevelopment",
    "JourneymanCertificate", "LearningProgram", "License", "Membership", "ProfessionalDoctorate",
    "QualityAssuranceCredential", "MasterCertificate", "MasterDegree", "MicroCredential", "ResearchDoctorate",
    "SecondarySchoolDiploma")
ALIGNMENT_TARGET_TYPES = ("ceasn:Competency", "ceterms:Credential", "CFItem", "CFRubric", "CFRubricCriterion",
                          "CFRubricCriterionLevel", "CTDL")
_EXT = re.compile(r"^ext:[A-Za-z0-9.\-_]+$")


def _refuse_unsafe(value: str, multiline: bool) -> str:
    char = unsafe_char(value, multiline=multiline)
    if char is not None:
        raise PydanticCustomError(UNSAFE_TEXT, "must not contain {char}", {"char": describe_char(char)})
    return value


_ENDS = " \t\n\r"  # what may be trimmed off the ends before the check (pasted text often has it)


def _line(value: Any) -> Any:
    return _refuse_unsafe(value.strip(_ENDS), multiline=False) if isinstance(value, str) else value


def _lines(value: Any) -> Any:
    return _refuse_unsafe(value.strip(_ENDS), multiline=True) if isinstance(value, str) else value


def _email(value: str) -> str:
    value = _line(value).strip()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


def _http_url(value: str) -> str:
    value = _line(value).strip()
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return value


def _when(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 at +01:00 is before year 1 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PydanticCustomError("date_out_of_range",
                                  "must be between 1900-01-01T00:00:00Z and 9899-12-31T23:59:59Z")
    return value


def _achievement_type(value: str) -> str:
    if value not in ACHIEVEMENT_TYPES and not _EXT.match(value):
        raise ValueError("must be an OB 3.0 achievement type (e.g. MicroCredential, Badge) or 'ext:<Name>'")
    return value


def _target_type(value: str) -> str:
    if value not in ALIGNMENT_TARGET_TYPES and not _EXT.match(value):
        raise ValueError("must be an OB 3.0 alignment target type (e.g. ceasn:Competency) or 'ext:<Name>'")
    return value


def Text(max_length: int, min_length: int = 1, *, multiline: bool = False):  # noqa: N802 - a type factory
    """Text people read: one line unless ``multiline``; see the module's docstring for what is refused.

    Checked before whitespace is stripped (Python's strip would silently drop a trailing U+0085
    or U+2028), with only spaces, tabs and line breaks at the ends forgiven.
    """
    check = _lines if multiline else _line
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     BeforeValidator(check)]  # the outermost: it sees the raw input, before the strip


def Prose(max_length: int, min_length: int = 1):  # noqa: N802 - a type factory
    """Multi-line text people read (descriptions, narratives): tab, newline and CRLF allowed."""
    return Text(max_length, min_length, multiline=True)


Email = Annotated[str, AfterValidator(_email)]
HttpUrl = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_http_url)]
When = Annotated[AwareDatetime, AfterValidator(_when)]  # every datetime a request carries
Slug = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])$")]
Scope = Literal["issue", "revoke", "read", "manage"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- issuers -----------------------------------------------------------------------------
class IssuerCreate(Strict):
    name: Text(200)
    slug: Slug
    url: HttpUrl
    email: Email
    logo: Annotated[str, StringConstraints(max_length=1_000_000), AfterValidator(_line)] | None = Field(
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


# -- API keys -------------------------------------------------------------------------------
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


# -- images and achievements ------------------------------------------------------------------
class ImageRead(BaseModel):
    id: str = Field(description="SHA-256 of the stored (cleaned) image: reference it as an achievement's image")
    url: str
    media_type: str
    size: int


class AlignmentIn(Strict):
    targetName: Text(500)
    targetUrl: HttpUrl
    targetFramework: Text(200) | None = None
    targetCode: Text(200) | None = None
    targetDescription: Prose(2000) | None = None
    targetType: Annotated[str, AfterValidator(_target_type)] | None = None


class CriteriaIn(Strict):
    narrative: Prose(10_000) | None = None
    id: HttpUrl | None = Field(None, description="a page describing the criteria")

    @model_validator(mode="after")
    def _some(self) -> CriteriaIn:
        if not self.narrative and not self.id:
            raise ValueError("criteria needs a narrative, an id (URL), or both")
        return self


class AchievementCreate(Strict):
    name: Text(200)
    description: Prose(10_000)
    criteria: CriteriaIn
    image: Annotated[str, StringConstraints(max_length=1024), AfterValidator(_line)] | None = Field(
        None, description="the id (or url) of an image uploaded with POST /api/v1/images")
    image_caption: Text(500) | None = None
    achievement_type: Annotated[str, AfterValidator(_achievement_type)] | None = Field(None, alias="achievementType")
    alignment: list[AlignmentIn] = Field(default_factory=list, max_length=30)
    tags: list[Text(100)] = Field(default_factory=list, max_length=30)
    validity_days: int | None = Field(None, ge=1, le=36_500,
                                      description="shelf life: each credential's validUntil = validFrom + this")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AchievementRead(BaseModel):
    id: str
    name: str
    description: str
    criteria: dict
    image: str | None
    achievement_type: str | None
    alignment: list[dict]
    tags: list[str]
    validity_days: int | None
    created_at: datetime
    achievement: dict = Field(description="the OB 3.0 Achievement as it goes into credentials")


# -- credentials ---------------------------------------------------------------------------------
class RecipientIn(Strict):
    name: Text(200)
    email: Email


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
    achievement_id: str | None  # None: a generic W3C VC issued through the VC-API, with no achievement
    anchored_at: datetime | None
    revoked: bool = False
    revoked_at: datetime | None
    revocation_reason: str | None
    suspended: bool = False
    suspended_at: datetime | None = None
    suspension_reason: str | None = None
    created_at: datetime


class CredentialList(BaseModel):
    items: list[CredentialRead]
    next_cursor: str | None


class RevokeIn(Strict):
    reason: Text(500)


class SuspendIn(Strict):
    reason: Text(500)


class BatchRow(Strict):
    """One recipient of a batch; checked row by row, so one bad row does not sink the others."""

    name: Text(200)
    email: Email
    evidence: list[EvidenceIn] | None = Field(None, max_length=10)


class BatchCreate(Strict):
    achievement_id: Text(40)
    recipients: list[Any] = Field(min_length=1)
    valid_from: When | None = None

    @field_validator("recipients")
    @classmethod
    def _no_unsafe_text(cls, recipients: list[Any]) -> list[Any]:
        """Rows are checked one by one later (a bad email is that row's error), but a row with text
        that must never be stored or signed (control or bidirectional characters) refuses the whole
        batch now, before a batch row — and the recipients' plain emails — is stored."""
        for index, raw in enumerate(recipients):
            if not _has_suspect_text(raw):
                continue  # the common case: no row holds a control, bidi or surrogate character
            try:
                BatchRow.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    if err["type"] == UNSAFE_TEXT:
                        raise PydanticCustomError(
                            UNSAFE_TEXT, "row {row}, {where}: {msg}; the batch is refused and nothing was stored",
                            {"row": index, "where": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}) from None
        return recipients


_SUSPECT = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029\ud800-\udfff]")  # a superset of both rules


def _has_suspect_text(value: Any) -> bool:
    """A cheap pre-check: any string in ``value`` with a character one of the text rules may refuse."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SUSPECT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RowError(BaseModel):
    row: int
    reason: str


class BatchCredential(BaseModel):
    row: int
    id: str
    url: str


class BatchRead(BaseModel):
    id: str
    state: Literal["queued", "running", "done"]
    achievement_id: str
    total: int
    processed: int
    issued: int
    failed: int
    errors: list[RowError]
    credentials: list[BatchCredential] = Field(description="issued so far, by row (paged: offset, limit)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CredentialStatusRead(BaseModel):
    revoked: bool
    revokedAt: str | None
    reason: str | None = None
    suspended: bool = False
    suspendedAt: str | None = None
    suspensionReason: str | None = None

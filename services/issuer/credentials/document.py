"""Building the Open Badges 3.0 credential (docs/issuer.md, "The credential"): pure functions over plain values.

The document is built here unsigned; services.issuer.signing adds the eddsa-rdfc-2022
proof. Everything written is defined by the two bundled contexts (safe-mode
canonicalisation refuses anything else). ``credentialStatus`` is the credential's two W3C
``BitstringStatusListEntry`` items, revocation first, then suspension (docs/status-lists.md);
credentials issued before status lists carry the older single entry of type
``urn:microcred:MicrocredRevocation2026`` (an absolute IRI, as neither context defines a type
of ours), which :func:`build_credential` still writes when it is given no entries.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.core.credential import CONTEXTS

CREDENTIAL_TYPES = ["VerifiableCredential", "OpenBadgeCredential"]
ENDORSEMENT_TYPES = ["VerifiableCredential", "EndorsementCredential"]
# The status entry of credentials issued before status lists: revocation is checked at GET {id}
# (the verifier's /c/{id}/status, backed by the issuer's /public/credentials/{id}/status).
# An absolute IRI: safe with the bundled contexts.
STATUS_TYPE = "urn:microcred:MicrocredRevocation2026"
LINKEDIN_IDENTIFIER_TYPE = "ext:LinkedInOrganizationId"


def new_credential_id() -> str:
    """The random part of a credential URL: 128 bits, URL-safe, never sequential."""
    return secrets.token_urlsafe(16)


def new_salt() -> str:
    return secrets.token_urlsafe(12)


def xsd_datetime(value: datetime) -> str:
    """UTC, to the second, with a 'Z': what every date in our documents looks like."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return _xsd(value)


@lru_cache(maxsize=256)  # a batch chunk formats the same few times for every row
def _xsd(value: datetime) -> str:
    u = value.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def normalize_email(email: str) -> str:
    """What is hashed: the address trimmed and lower-cased (documented in docs/issuer.md)."""
    return email.strip().lower()


def identity_hash(email: str, salt: str) -> str:
    """OB 3.0 IdentityHash: ``sha256$`` + hex SHA-256 of the normalised address followed by the salt."""
    return "sha256$" + hashlib.sha256((normalize_email(email) + salt).encode("utf-8")).hexdigest()


def identity_object(email: str, salt: str) -> dict:
    return {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
            "identityHash": identity_hash(email, salt), "salt": salt}


@dataclass(frozen=True)
class ProfileData:
    did: str
    name: str
    url: str
    email: str
    image_url: str | None = None
    linkedin_organization_id: str | None = None


@dataclass(frozen=True)
class AchievementData:
    id_url: str
    name: str
    description: str
    criteria_narrative: str | None = None
    criteria_url: str | None = None
    image_url: str | None = None
    image_caption: str | None = None
    achievement_type: str | None = None
    alignment: list[dict] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    validity_days: int | None = None
    level: str | None = None
    category: str | None = None
    credits: float | None = None


def profile_document(p: ProfileData) -> dict:
    """The issuer's OB 3.0 Profile as embedded in credentials (``id`` is its DID)."""
    profile: dict[str, Any] = {"id": p.did, "type": ["Profile"], "name": p.name, "url": p.url, "email": p.email}
    if p.image_url:
        profile["image"] = {"id": p.image_url, "type": "Image"}
    if p.linkedin_organization_id:
        profile["otherIdentifier"] = [{"type": "IdentifierEntry", "identifier": p.linkedin_organization_id,
                                       "identifierType": LINKEDIN_IDENTIFIER_TYPE}]
    return profile


def alignment_document(a: dict) -> dict:
    out = {"type": ["Alignment"], "targetName": a["targetName"], "targetUrl": a["targetUrl"]}
    for key in ("targetDescription", "targetFramework", "targetCode", "targetType"):
        if a.get(key):
            out[key] = a[key]
    return out


def achievement_document(a: AchievementData) -> dict:
    criteria: dict[str, Any] = {}
    if a.criteria_url:
        criteria["id"] = a.criteria_url
    if a.criteria_narrative:
        criteria["narrative"] = a.criteria_narrative
    doc: dict[str, Any] = {"id": a.id_url, "type": ["Achievement"], "name": a.name, "description": a.description,
                           "criteria": criteria}
    if a.achievement_type:
        doc["achievementType"] = a.achievement_type
    if a.image_url:
        doc["image"] = {"id": a.image_url, "type": "Image"}
        if a.image_caption:
            doc["image"]["caption"] = a.image_caption
    if a.alignment:
        doc["alignment"] = [alignment_document(x) for x in a.alignment]
    if a.tags:
        doc["tag"] = list(a.tags)
    if a.category:
        doc["fieldOfStudy"] = a.category
    if a.credits is not None:
        doc["creditsAvailable"] = a.credits
    if a.level:
        doc["resultDescription"] = [level_description(a.id_url, a.level)]
    return doc


LEVELS = ("foundational", "intermediate", "advanced")


def level_description(achievement_url: str, level: str) -> dict:
    """The competency level as OB 3.0 says it: a ResultDescription of type RubricCriterionLevel
    listing the three levels, whose ``requiredLevel`` is this achievement's."""
    def level_id(name: str) -> str:
        return f"{achievement_url}#level-{name}"
    return {"id": f"{achievement_url}#level", "type": ["ResultDescription"], "name": "Competency level",
            "resultType": "RubricCriterionLevel",
            "rubricCriterionLevel": [{"id": level_id(name), "type": ["RubricCriterionLevel"],
                                      "name": name.capitalize(), "level": name} for name in LEVELS],
            "requiredLevel": level_id(level)}


def evidence_document(e: dict) -> dict:
    out: dict[str, Any] = {"type": ["Evidence"]}
    for key in ("id", "name", "description", "narrative", "genre", "audience", "digestMultibase"):
        if e.get(key):
            out[key] = e[key]
    return out


def valid_until_for(valid_from: datetime, validity_days: int | None) -> datetime | None:
    return valid_from + timedelta(days=validity_days) if validity_days else None


def build_credential(*, credential_id: str, public_base_url: str, profile: dict, achievement: dict,
                     valid_from: datetime, valid_until: datetime | None, recipient_name: str | None = None,
                     recipient_email: str | None = None, salt: str | None = None, subject: dict | None = None,
                     evidence: list[dict] | None = None, status: list[dict] | None = None, id_: str | None = None,
                     types: list[str] | None = None, name: str | None = None, valid_from_text: str | None = None,
                     valid_until_text: str | None = None, members: dict | None = None) -> dict:
    """The unsigned OpenBadgeCredential. ``profile`` and ``achievement`` are documents.

    The subject is ``subject`` (an AchievementSubject without its achievement), or our own
    from ``recipient_name``, ``recipient_email`` and ``salt``. ``status``: the credential's
    status list entries (``statuslist.entry``), revocation first, then suspension — what every
    credential the service issues carries. Without them, the single entry of credentials
    issued before status lists (tests, benchmarks).

    A VC-API caller's credential keeps its ``id_``, ``types``, ``name``, its dates as written
    (``valid_from_text``, ``valid_until_text``) and its other ``members``, placed after ours.
    """
    url = credential_url(public_base_url, credential_id)
    credential: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": id_ or url,
        "type": list(types or CREDENTIAL_TYPES),
        "name": name or achievement["name"],
        "issuer": profile,
        "validFrom": valid_from_text or xsd_datetime(valid_from),
    }
    if valid_until is not None:
        credential["validUntil"] = valid_until_text or xsd_datetime(valid_until)
    if subject is None:
        subject = {"type": ["AchievementSubject"], "name": recipient_name,
                   "identifier": [identity_object(recipient_email, salt)]}
    # The caller's members in its order (its credentialSubject where it wrote it), after ours.
    for key, value in (members or {}).items():
        if key == "credentialSubject" or (key not in credential and key != "validUntil"):
            credential[key] = value
    credential["credentialSubject"] = {**subject, "achievement": achievement}
    if evidence:
        credential["evidence"] = [evidence_document(e) for e in evidence]
    if status:
        credential["credentialStatus"] = [dict(item) for item in status]
    else:
        credential["credentialStatus"] = {"id": f"{url}/status", "type": STATUS_TYPE}
    return credential


def build_endorsement(*, credential_id: str, public_base_url: str, profile: dict, about: str, about_name: str,
                      comment: str, valid_from: datetime, status: list[dict]) -> dict:
    """The unsigned OB 3.0 EndorsementCredential: ``profile`` (the endorser's) says ``comment`` about ``about``.

    ``about`` is the endorsed achievement's URL or the endorsed issuer's DID, the id of the
    EndorsementSubject; ``name`` and ``description`` say it in words for people (VC 2.0 terms,
    signed like the rest). An EndorsementSubject has no other terms than ``endorsementComment``.
    """
    return {
        "@context": list(CONTEXTS),
        "id": credential_url(public_base_url, credential_id),
        "type": list(ENDORSEMENT_TYPES),
        "name": f"Endorsement of {about_name} by {profile['name']}",
        "description": f"{profile['name']} endorses {about_name}.",
        "issuer": profile,
        "validFrom": xsd_datetime(valid_from),
        "credentialSubject": {"id": about, "type": ["EndorsementSubject"], "endorsementComment": comment},
        "credentialStatus": [dict(item) for item in status],
    }


def credential_url(public_base_url: str, credential_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/c/{credential_id}"


def status_of(*, revoked_at: datetime | None, valid_from: datetime, valid_until: datetime | None, anchored: bool,
              signed_after_key_invalid: bool, now: datetime, suspended_at: datetime | None = None) -> str:
    """What the issuer can truthfully say: revoked, invalid, suspended, expired, pending or anchored.

    In that order: what is for ever (revoked, invalid) before what can be lifted (suspended),
    before what merely happened (expired).
    ``invalid``: its key was compromised before it was signed and anchored, so no verifier accepts it.
    ``pending``: signed, its anchor not yet confirmed. ``anchored``: the registry confirmed the
    anchor. The issuer never reads the chain, so it never says ``valid``: that is the
    verifier's verdict, from the chain itself.
    """
    if revoked_at is not None:
        return "revoked"
    if signed_after_key_invalid:
        return "invalid"
    if suspended_at is not None:
        return "suspended"
    if valid_until is not None and now >= valid_until:
        return "expired"
    if not anchored:
        return "pending"
    return "anchored"


def invalidated_by_compromise(signed_at: datetime, anchored_at: datetime | None, compromised_at: datetime) -> bool:
    """A key compromised at ``compromised_at`` (whole seconds) validates only what was signed and anchored before."""
    return signed_at >= compromised_at or anchored_at is None or anchored_at >= compromised_at

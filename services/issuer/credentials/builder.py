"""The one place a credential document is built (docs/issuer.md, "The credential").

Every path calls :func:`build`: a single issue, each batch row, the signability probe of a
new achievement, and the VC-API's issuance of a caller-built credential; an endorsement is
:func:`build_endorsement`. What is the same
for all credentials of one achievement (the issuer's Profile, the Achievement) is loaded
once as a :class:`Template`; the pure document functions are in ``document``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.issuer.credentials import document as cred
from services.issuer.models import Achievement, Issuer
from services.issuer.settings import IssuerSettings


@dataclass(frozen=True)
class Template:
    """The parts every credential of one achievement of one issuer shares."""

    profile: dict[str, Any]
    achievement: dict[str, Any]
    validity_days: int | None


def profile_data(issuer: Issuer) -> cred.ProfileData:
    return cred.ProfileData(did=issuer.did, name=issuer.name, url=issuer.url, email=issuer.email,
                            image_url=issuer.logo_url, linkedin_organization_id=issuer.linkedin_organization_id)


def profile_document(issuer: Issuer) -> dict[str, Any]:
    return cred.profile_document(profile_data(issuer))


def achievement_url(settings: IssuerSettings, achievement_id: str) -> str:
    return f"{settings.issuer_url}/public/achievements/{achievement_id}"


def achievement_data(settings: IssuerSettings, a: Achievement) -> cred.AchievementData:
    return cred.AchievementData(
        id_url=achievement_url(settings, a.id), name=a.name, description=a.description,
        criteria_narrative=a.criteria_narrative, criteria_url=a.criteria_url, image_url=a.image_url,
        image_caption=a.image_caption, achievement_type=a.achievement_type, alignment=list(a.alignment or []),
        tags=list(a.tags or []), validity_days=a.validity_days, level=a.level, category=a.category,
        credits=a.credits)


def achievement_document(settings: IssuerSettings, a: Achievement) -> dict[str, Any]:
    return cred.achievement_document(achievement_data(settings, a))


def template(settings: IssuerSettings, issuer: Issuer, achievement: Achievement) -> Template:
    return Template(profile=profile_document(issuer), achievement=achievement_document(settings, achievement),
                    validity_days=achievement.validity_days)


def recipient_subject(name: str, email: str, salt: str | None = None, did: str | None = None) -> dict[str, Any]:
    """Our AchievementSubject: the learner's DID as its id if given, the name, and the email only as
    a salted OB 3.0 identity hash."""
    subject: dict[str, Any] = {"id": did} if did else {}
    return {**subject, "type": ["AchievementSubject"], "name": name,
            "identifier": [cred.identity_object(email, salt or cred.new_salt())]}


@dataclass(frozen=True)
class CallerParts:
    """What a VC-API caller wrote into its credential and keeps (docs/vc-api.md): its ``id``, ``type``,
    ``name``, the dates as it wrote them, and its other members, which follow ours unchanged."""

    id: str | None = None
    types: list[str] | None = None
    name: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    members: dict[str, Any] | None = None


def build(settings: IssuerSettings, template: Template, *, credential_id: str, subject: dict[str, Any],
          valid_from: datetime, valid_until: datetime | None, status: list[dict] | None,
          evidence: list[dict] | None = None, caller: CallerParts | None = None) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential ``credential_id`` for ``subject`` (an AchievementSubject
    without its achievement, which comes from the template)."""
    caller = caller or CallerParts()
    return cred.build_credential(
        credential_id=credential_id, public_base_url=settings.public_base_url, profile=template.profile,
        achievement=template.achievement, subject=subject, valid_from=valid_from, valid_until=valid_until,
        evidence=evidence, status=status, id_=caller.id, types=caller.types, name=caller.name,
        valid_from_text=caller.valid_from, valid_until_text=caller.valid_until, members=caller.members)


def build_endorsement(settings: IssuerSettings, endorser: Issuer, *, credential_id: str, about: str, about_name: str,
                      comment: str, valid_from: datetime, status: list[dict]) -> dict[str, Any]:
    """The unsigned EndorsementCredential of ``endorser`` about an achievement (its URL) or an issuer
    (its DID), signed by the endorser's own key (docs/endorsements.md)."""
    return cred.build_endorsement(credential_id=credential_id, public_base_url=settings.public_base_url,
                                  profile=profile_document(endorser), about=about, about_name=about_name,
                                  comment=comment, valid_from=valid_from, status=status)


def build_generic(settings: IssuerSettings, *, credential_id: str, context: list[str], issuer_did: str,
                  valid_from: datetime, status: list[dict], caller: CallerParts) -> dict[str, Any]:
    """The unsigned generic W3C VC 2.0 of a VC-API caller (not an Open Badge; docs/vc-api.md).

    Ours: ``id`` (default our credential URL), ``issuer`` (the DID alone: the Profile's terms are
    the Open Badges context's), ``validFrom`` and the status entries; the caller's other members
    follow as written."""
    fixed: dict[str, Any] = {
        "@context": list(context),
        "id": caller.id or cred.credential_url(settings.public_base_url, credential_id),
        "type": list(caller.types or ["VerifiableCredential"]),
        "issuer": issuer_did,
        "validFrom": caller.valid_from or cred.xsd_datetime(valid_from),
    }
    if caller.name is not None:
        fixed["name"] = caller.name
    if caller.valid_until is not None:
        fixed["validUntil"] = caller.valid_until
    document = {**fixed, **{k: v for k, v in (caller.members or {}).items() if k not in fixed and k != "validUntil"}}
    document["credentialStatus"] = [dict(item) for item in status]
    return document

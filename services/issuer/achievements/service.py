"""Images and achievements (docs/issuer.md, "Routes", "Images"). They flush; the request commits.

An image is cleaned (services.issuer.images) and stored once per issuer by its SHA-256; an
achievement is refused at once if a credential of it could not be signed safely later.
"""

from __future__ import annotations

import base64
import re

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import InvalidInput, NotFound, PayloadTooLarge
from services.core.jsonld import JsonLdDocumentError, canonicalize
from services.issuer import statuslists
from services.issuer.achievements import repository as repo
from services.issuer.achievements.schemas import AchievementCreate, AchievementRead, ImageRead
from services.issuer.credentials import builder, document as cred
from services.issuer.ids import new_id
from services.issuer.images import CleanImage, ImageError, clean_image
from services.issuer.models import Achievement, Image, Issuer
from services.issuer.pathways import definitions as pathways
from services.issuer.pathways.schemas import RequiresIn
from services.issuer.settings import IssuerSettings

_DATA_URI = re.compile(r"^data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=\s]+)$")


def decode_logo(settings: IssuerSettings, logo: str) -> CleanImage | None:
    """A data: URI logo becomes a hosted image; an http(s) URL is kept as given."""
    if re.match(r"^https?://\S+$", logo, re.IGNORECASE):
        if len(logo) > 1024:
            raise InvalidInput("logo: the URL is too long")
        return None
    match = _DATA_URI.match(logo)
    if not match:
        raise InvalidInput("logo: give an http(s) URL, or a PNG or SVG as a base64 data: URI")
    try:
        data = base64.b64decode(match.group(2), validate=False)
    except ValueError:
        raise InvalidInput("logo: the data URI is not valid base64") from None
    return clean(settings, data)


def clean(settings: IssuerSettings, data: bytes) -> CleanImage:
    if len(data) > settings.image_max_bytes:
        raise PayloadTooLarge(f"the image is larger than {settings.image_max_bytes} bytes")
    try:
        return clean_image(data, max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels)
    except ImageError as exc:
        raise InvalidInput(str(exc), code="invalid_image") from None


def image_url(settings: IssuerSettings, sha256: str, media_type: str) -> str:
    return f"{settings.issuer_url}/public/images/{sha256}.{'png' if media_type == 'image/png' else 'svg'}"


def store_image(session: Session, settings: IssuerSettings, issuer_id: str, clean: CleanImage) -> ImageRead:
    existing = repo.image(session, issuer_id, clean.sha256)
    if existing is None:
        session.add(Image(issuer_id=issuer_id, sha256=clean.sha256, media_type=clean.media_type, data=clean.data,
                          created_at=utcnow()))
        session.flush()
    return ImageRead(id=clean.sha256, url=image_url(settings, clean.sha256, clean.media_type),
                     media_type=clean.media_type, size=len(clean.data))


def upload_image(session: Session, settings: IssuerSettings, issuer: Issuer, data: bytes) -> ImageRead:
    return store_image(session, settings, issuer.id, clean(settings, data))


def public_image(session: Session, name: str) -> Image:
    sha, _, ext = name.partition(".")
    found = repo.public_image(session, sha) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if found is None or ext != ("png" if found.media_type == "image/png" else "svg"):
        raise NotFound("no such image")
    return found


def _image_for(session: Session, settings: IssuerSettings, issuer: Issuer, ref: str) -> str:
    """The URL of this issuer's uploaded image named by ``ref`` (its id, or the url we returned)."""
    sha = ref.rsplit("/", 1)[-1].split(".", 1)[0] if "/" in ref else ref
    found = repo.image(session, issuer.id, sha) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if found is None:
        raise InvalidInput("image: upload the image first (POST /api/v1/images) and give its id", code="unknown_image")
    return image_url(settings, found.sha256, found.media_type)


def _achievement_read(settings: IssuerSettings, a: Achievement) -> AchievementRead:
    document = builder.achievement_document(settings, a)
    return AchievementRead(id=a.id, name=a.name, description=a.description, criteria=document["criteria"],
                           image=a.image_url, achievement_type=a.achievement_type, alignment=list(a.alignment or []),
                           tags=list(a.tags or []), validity_days=a.validity_days, level=a.level,
                           category=a.category, hours=a.hours, credits=a.credits, requires=a.requires,
                           pathway=a.requires is not None, created_at=a.created_at,
                           achievement=document)


def create_achievement(session: Session, settings: IssuerSettings, issuer: Issuer,
                       body: AchievementCreate) -> AchievementRead:
    image = _image_for(session, settings, issuer, body.image) if body.image else None
    row = Achievement(id=new_id("ach"), issuer_id=issuer.id, name=body.name, description=body.description,
                      criteria_narrative=body.criteria.narrative, criteria_url=body.criteria.id, image_url=image,
                      image_caption=body.image_caption, achievement_type=body.achievement_type,
                      alignment=[a.model_dump(exclude_none=True) for a in body.alignment], tags=list(body.tags),
                      validity_days=body.validity_days, level=body.level, category=body.category,
                      hours=body.hours, credits=body.credits, created_at=utcnow())
    # Refuse now what could not be signed later: the achievement must canonicalise safely.
    _check_signable(settings, issuer, row)
    requirement = pathways.normalise(session, settings, issuer.id, body.requires, row.id) if body.requires else None
    session.add(row)
    session.flush()
    if requirement is not None:
        pathways.define(session, issuer.id, row, requirement)
    return _achievement_read(settings, row)


def replace_requires(session: Session, settings: IssuerSettings, issuer: Issuer, achievement_id: str,
                     body: RequiresIn) -> AchievementRead:
    row = achievement(session, issuer, achievement_id)
    pathways.replace(session, settings, issuer.id, row, body)
    return _achievement_read(settings, row)


def _check_signable(settings: IssuerSettings, issuer: Issuer, a: Achievement) -> None:
    probe = builder.build(settings, builder.template(settings, issuer, a), credential_id="probe",
                          subject=builder.recipient_subject("probe", "probe@example.org", "probe"),
                          valid_from=utcnow(), valid_until=None, status=statuslists.probe_status(settings, issuer))
    try:
        canonicalize(probe)
    except JsonLdDocumentError as exc:
        raise InvalidInput(f"this achievement could not be signed safely: {exc}", code="unsafe_document") from None


def list_achievements(session: Session, settings: IssuerSettings, issuer: Issuer, level: str | None = None,
                      category: str | None = None) -> list[AchievementRead]:
    """The issuer's achievements, oldest first; ``category`` matches without regard to case."""
    return [_achievement_read(settings, a) for a in repo.achievements(session, issuer.id, level, category)]


def get_achievement(session: Session, settings: IssuerSettings, issuer: Issuer, achievement_id: str) -> AchievementRead:
    return _achievement_read(settings, achievement(session, issuer, achievement_id))


def public_achievement(session: Session, settings: IssuerSettings, achievement_id: str) -> dict:
    a = repo.public_achievement(session, achievement_id)
    if a is None:
        raise NotFound("no such achievement")
    return {"@context": list(cred.CONTEXTS), **builder.achievement_document(settings, a)}


def issuable(session: Session, issuer: Issuer, achievement_id: str) -> Achievement:
    """An achievement that may be issued by hand: the caller's own, and not a pathway (409)."""
    a = achievement(session, issuer, achievement_id)
    pathways.refuse_by_hand(a)
    return a


def achievement(session: Session, issuer: Issuer, achievement_id: str) -> Achievement:
    a = repo.achievement(session, issuer.id, achievement_id)
    if a is None:
        raise NotFound(f"no achievement {achievement_id!r} for this issuer", code="unknown_achievement")
    return a

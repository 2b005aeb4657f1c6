"""Learners' profiles (docs/learners.md, "The profile"): one per learner, made and withdrawn by the issuer
on the learner's behalf; the public listing the verifier turns into the page.

The listing names credentials by URL and says how far each pathway is along; it carries no
verdicts and no personal data beyond what the listed credentials already publish: the
verifier fetches and checks every credential itself.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import NotFound
from services.issuer.credentials.document import credential_url
from services.issuer.issuers import repository as issuers_repo
from services.issuer.learners import repository as learners_repo
from services.issuer.models import Issuer, LearnerProfile
from services.issuer.pathways import awards, repository as pathways_repo, requirements as rules
from services.issuer.profiles import repository as repo
from services.issuer.profiles.schemas import (ListedCredential, PathwayComponent, PathwayProgress, ProfileListing,
                                              ProfileRead)
from services.issuer.settings import IssuerSettings

MAX_LISTED = 200  # the newest credentials a profile lists; the page checks each one


def new_profile_id() -> str:
    """192 random bits, URL-safe (32 characters): the URL is the only key to the page."""
    return secrets.token_urlsafe(24)


def _read(settings: IssuerSettings, row: LearnerProfile) -> ProfileRead:
    return ProfileRead(profile_id=row.id, url=f"{settings.public_base_url}/p/{row.id}")


def _learner(session: Session, issuer: Issuer, learner_id: str) -> None:
    if learners_repo.learner(session, issuer.id, learner_id) is None:
        raise NotFound(f"no learner {learner_id!r} for this issuer")


def create(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str) -> tuple[ProfileRead, bool]:
    """The learner's profile, made if there is none; (profile, whether it was made now).

    Asking again returns the same profile: rotating the URL is a withdrawal and a new one.
    """
    _learner(session, issuer, learner_id)
    found = repo.of_learner(session, issuer.id, learner_id)
    if found is not None:
        return _read(settings, found), False
    row = LearnerProfile(id=new_profile_id(), issuer_id=issuer.id, learner_id=learner_id, created_at=utcnow())
    if repo.add(session, row):
        return _read(settings, row), True
    return _read(settings, repo.of_learner(session, issuer.id, learner_id)), False  # a concurrent request won


def get(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str) -> ProfileRead:
    _learner(session, issuer, learner_id)
    found = repo.of_learner(session, issuer.id, learner_id)
    if found is None:
        raise NotFound("this learner shares no profile", code="no_profile")
    return _read(settings, found)


def withdraw(session: Session, issuer: Issuer, learner_id: str) -> None:
    """Delete the profile: its URL is 404 from the next request on. Idempotent for the issuer's own learner."""
    _learner(session, issuer, learner_id)
    repo.remove(session, issuer.id, learner_id)


def listing(session: Session, settings: IssuerSettings, profile_id: str) -> ProfileListing:
    """What the verifier reads for ``/p/{profile_id}``; 404 for an unknown or withdrawn profile."""
    row = repo.by_id(session, profile_id)
    if row is None:
        raise NotFound("there is no profile at this address")
    issuer = issuers_repo.issuer(session, row.issuer_id)
    rows = [c for c in learners_repo.credentials_of(session, issuer.id, row.learner_id)
            if c.replaced_by is None][-MAX_LISTED:]  # a renewed credential is stood for by its successor
    awarded = pathways_repo.awarded_credential_ids(session, issuer.id, [c.id for c in rows])
    credentials = [ListedCredential(id=c.id, url=credential_url(settings.public_base_url, c.id),
                                    achievement_id=c.achievement_id, pathway=c.id in awarded) for c in rows]
    return ProfileListing(profile_id=row.id, issuer={"id": issuer.did, "name": issuer.name, "url": issuer.url},
                          credentials=credentials, pathways=progress(session, settings, issuer, row.learner_id))


def progress(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str) -> list[PathwayProgress]:
    """Each pathway of the issuer the learner has begun (holds an element of) or was awarded, in definition order."""
    held = awards.holdings(session, issuer, learner_id, utcnow())
    given = pathways_repo.awards(session, issuer.id, learner_id)
    pathways = []
    for pathway in pathways_repo.pathways(session, issuer.id):
        requirement = rules.from_json(pathway.requires)
        award = given.get(pathway.id)
        if award is None and not any(e in held for e in requirement.of):
            continue
        pathways.append((pathway, requirement, award))
    names = pathways_repo.achievements_by_id(session, issuer.id, [e for _, r, _ in pathways for e in r.local()])
    out = []
    for pathway, requirement, award in pathways:
        components = []
        for element in requirement.of:
            h = held.get(element)
            if element.startswith(rules.EXTERNAL):
                _, achievement_url = rules.split_external(element)
                components.append(PathwayComponent(achievement_id=None, name=h.name if h else achievement_url,
                                                   held=h is not None, credential_url=h.url if h else None,
                                                   external=True))
            else:
                known = names.get(element)
                components.append(PathwayComponent(achievement_id=element, name=known.name if known else element,
                                                   held=h is not None, credential_url=h.url if h else None))
        out.append(PathwayProgress(
            achievement_id=pathway.id, name=pathway.name, required=requirement.k, of=len(requirement.of),
            held=sum(c.held for c in components), complete=award is not None,
            credential_url=credential_url(settings.public_base_url, award.credential_id) if award else None,
            components=components))
    return out

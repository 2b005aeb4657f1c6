"""Defining a pathway: ``requires`` checked and stored (docs/pathways.md, "Defining a pathway").

An element naming an achievement id must be one of the caller's own achievements (another
issuer's is 404, as if it did not exist); an achievement of another issuer is named by its
public URL and the DID that signs it, and is met only by a verified external component. Our
own public achievement URL with our own DID is read as the id it names, under the same rule
(another tenant of this deployment is another issuer: its achievement, named by URL and its DID,
is an external component like any other). No element twice,
k within 1 … the number of elements, and no cycle (422 ``pathway_cycle`` naming it).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound
from services.issuer.models import Achievement, Issuer
from services.issuer.pathways import repository as repo
from services.issuer.pathways import requirements as rules
from services.issuer.pathways.schemas import ExternalComponent, RequiresIn
from services.issuer.settings import IssuerSettings


def _element(settings: IssuerSettings, own_did: str, element: str | ExternalComponent) -> str:
    if isinstance(element, str):
        return element
    own = f"{settings.issuer_url}/public/achievements/"
    if element.issuer == own_did and element.achievement.startswith(own):  # ours by URL: the rules of its id
        return element.achievement[len(own):]
    return rules.external_ref(element.issuer, element.achievement)


def normalise(session: Session, settings: IssuerSettings, issuer_id: str, body: RequiresIn,
              pathway_id: str) -> rules.Requirement:
    """The stored form of ``body`` for the pathway ``pathway_id``, or a 4xx saying what is wrong."""
    own_did = session.get(Issuer, issuer_id).did
    elements = [_element(settings, own_did, e) for e in body.elements()]
    seen: set[str] = set()
    for e in elements:
        if e in seen:
            raise InvalidInput(f"requires: {e!r} is named twice", code="duplicate_requirement")
        seen.add(e)
    local = [e for e in elements if not e.startswith(rules.EXTERNAL)]
    found = repo.achievements_by_id(session, issuer_id, local)
    missing = [e for e in local if e not in found]
    if missing:  # another issuer's achievement is not disclosed: the same 404 as one that does not exist
        raise NotFound(f"requires: no achievement {missing[0]!r} for this issuer", code="unknown_achievement")
    requirement = rules.Requirement(body.k(), tuple(elements))
    cycle = rules.find_cycle(pathway_id, requirement,
                             lambda a: rules.from_json(repo.requires_of(session, issuer_id, a)))
    if cycle is not None:
        raise InvalidInput("requires: a pathway cannot require itself: " + " → ".join(cycle), code="pathway_cycle")
    return requirement


def define(session: Session, issuer_id: str, achievement: Achievement, requirement: rules.Requirement) -> None:
    """Store the requirement and its component index, and queue a look at every learner who holds
    a component already (they may have met it before it existed)."""
    achievement.requires = requirement.as_json()
    session.flush()
    repo.set_components(session, issuer_id, achievement.id, requirement.of)
    repo.add_jobs(session, issuer_id, repo.learners_holding(session, issuer_id, requirement.local()), utcnow())


def replace(session: Session, settings: IssuerSettings, issuer_id: str, achievement: Achievement,
            body: RequiresIn) -> None:
    """``PUT /api/v1/achievements/{id}/requires``: only before any credential of it exists (an award,
    or one issued by hand), so no credential ever rests on other rules than its achievement's."""
    if repo.has_credentials(session, issuer_id, achievement.id):
        raise Conflict("credentials of this achievement exist; define a new achievement instead",
                       code="achievement_in_use")
    define(session, issuer_id, achievement, normalise(session, settings, issuer_id, body, achievement.id))


def refuse_by_hand(achievement: Achievement) -> None:
    """A pathway is awarded, never issued by hand (single, batch or VC-API)."""
    if achievement.requires is not None:
        raise Conflict(f"{achievement.id!r} is a pathway: its credential is awarded automatically when a "
                       "learner holds its components, never issued by hand", code="pathway_awarded_automatically")

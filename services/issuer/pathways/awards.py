"""The award engine (docs/pathways.md, "Exactly once"): when a learner holds what a pathway
requires, its credential is issued, once.

* In the component's own transaction (single issue, batch chunk, VC-API issuance, an external
  component that verified) :func:`queue` writes an award job for the learner — only when the
  component's achievement is an element of some pathway, so other issuance pays one indexed
  lookup. Nothing reaches the registry on the way: awards happen while it is down.
* The award runner (``runner.py``) claims a job by lease and calls :func:`evaluate` in one
  transaction: what the learner holds now, every pathway of the issuer met by it and not yet
  awarded, to a fixpoint (an award may complete a pathway that requires it: nano → micro →
  stacked).
* Each award first inserts its ``issuer_pathway_awards`` row, unique per (issuer, learner,
  pathway), in a savepoint; only the transaction that inserted it builds and signs the
  credential. Two runners on the same learner (or a job seen twice) cannot both award it: the
  second insert waits for the first transaction and then fails, and its award is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.errors import InvalidInput
from services.core.multiformats import digest_multibase
from services.issuer import signing, statuslists
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials import builder, document as cred, repository as credentials_repo
from services.issuer.credentials import service as credentials
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import Achievement, Issuer, OutboxKind, PathwayAward
from services.issuer.pathways import repository as repo
from services.issuer.pathways import requirements as rules
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import events

log = logging.getLogger("microcred.issuer.pathways")

COUNTING = ("pending", "anchored")
JOBS_QUEUED = "award_jobs_queued"  # key in ``Session.info``: this transaction queued award jobs  # a component counts while it is neither revoked, suspended, expired nor invalid


@dataclass(frozen=True)
class Held:
    """A component the learner holds now: a credential of ours, or an external one that verified."""

    url: str
    credential_hash: str
    name: str
    subject: dict
    created_at: datetime
    credential_id: str | None = None
    external_id: str | None = None


def jobs_queued(session: Session) -> bool:
    return bool(session.info.get(JOBS_QUEUED))


def queue(session: Session, issuer_id: str, held: list[tuple[str | None, str]], now: datetime) -> None:
    """In the component's transaction: an award job per learner of ``(learner_id, component)`` pairs
    whose component (an achievement id or an external ref) is an element of a pathway."""
    pairs = [(learner, component) for learner, component in held if learner]
    if pairs and repo.is_component(session, issuer_id, [c for _, c in pairs]):
        repo.add_jobs(session, issuer_id, [learner for learner, _ in pairs], now)
        session.info[JOBS_QUEUED] = True  # the route wakes the award runner only then


def evidence_of(component: Held) -> dict:
    """A component named as OB 3.0 Evidence: its URL as ``id`` and its credential hash (VC 2.0
    ``digestMultibase``, and in words in ``narrative``)."""
    return {"id": component.url, "name": component.name, "genre": "Component credential",
            "description": "A credential this pathway credential was awarded for holding.",
            "narrative": f"Credential hash (SHA-256 of its RDFC-1.0 canonical form without proof): "
                         f"{component.credential_hash}",
            "digestMultibase": digest_multibase(component.credential_hash)}


def _subject(components: list[Held]) -> dict:
    """The award's subject is the learner as their newest component names them (name, salted
    email hash, DID): the issuer never kept the address to hash it again."""
    source = max(components, key=lambda h: h.created_at).subject
    subject = {"type": ["AchievementSubject"]}
    for key in ("id", "name", "identifier"):
        if key in source:
            subject[key] = source[key]
    return subject


def holdings(session: Session, issuer: Issuer, learner_id: str, now: datetime) -> dict[str, Held]:
    """What counts for the learner now, newest per achievement (ours by id, external by ref)."""
    keys = {k.id: k for k in issuers_repo.signing_keys(session, issuer.id)}
    held: dict[str, Held] = {}
    for c in repo.learner_credentials(session, issuer.id, learner_id):
        if credentials.read(c, keys.get(c.signing_key_id), now).status not in COUNTING or c.valid_from > now:
            continue
        document = orjson.loads(c.document)
        subject = document.get("credentialSubject") or {}
        held[c.achievement_id] = Held(url=document["id"], credential_hash=c.credential_hash,
                                      name=str((subject.get("achievement") or {}).get("name") or document.get("name")),
                                      subject=subject, created_at=c.created_at, credential_id=c.id)
    for e in repo.externals(session, issuer.id, learner_id):
        if e.state != "valid":
            continue
        document = orjson.loads(e.document)
        subject = document.get("credentialSubject") or {}
        held[rules.external_ref(e.issuer_did, e.achievement_url)] = Held(
            url=e.credential_url, credential_hash=e.credential_hash,
            name=str((subject.get("achievement") or {}).get("name") or "External credential"),
            subject=subject, created_at=e.created_at, external_id=e.id)
    return held


def evaluate(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str, now: datetime) -> list[str]:
    """Award every pathway the learner now meets and does not have; the new credential ids."""
    held = holdings(session, issuer, learner_id, now)
    awarded = set(repo.awards(session, issuer.id, learner_id))
    pathways = [p for p in repo.pathways(session, issuer.id) if p.id not in awarded]
    new: list[str] = []
    progress = True
    while progress:
        progress = False
        for pathway in pathways:
            if pathway.id in awarded:
                continue
            requirement = rules.from_json(pathway.requires)
            if not rules.met(requirement, held.__contains__):
                continue
            components = [held[e] for e in requirement.of if e in held]
            result = _award(session, settings, issuer, learner_id, pathway, components, now)
            awarded.add(pathway.id)
            if result is not None:
                new.append(result.credential_id)
                held[pathway.id] = result
                progress = True
    return new


def _award(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str, pathway: Achievement,
           components: list[Held], now: datetime) -> Held | None:
    """Issue ``pathway`` to the learner, or None when it was awarded meanwhile (the unique row)."""
    credential_id = cred.new_credential_id()
    try:
        with session.begin_nested():
            session.add(PathwayAward(issuer_id=issuer.id, learner_id=learner_id, pathway_id=pathway.id,
                                     credential_id=credential_id, created_at=now,
                                     components=[{"url": h.url, "hash": h.credential_hash,
                                                  "credential_id": h.credential_id, "external_id": h.external_id}
                                                 for h in components]))
    except IntegrityError:
        log.info("pathway %s for learner %s was awarded by another runner", pathway.id, learner_id)
        return None
    key = credentials.active_key(session, issuer)
    context = credentials.signer(settings, issuer, key)
    valid_until = cred.valid_until_for(now, pathway.validity_days)
    status = statuslists.allocate(session, settings, issuer, [credential_id])[credential_id]
    subject = _subject(components)
    unsigned = builder.build(settings, builder.template(settings, issuer, pathway), credential_id=credential_id,
                             subject=subject, valid_from=now, valid_until=valid_until, status=status,
                             evidence=[evidence_of(h) for h in components])
    outcome = signing.sign_documents(context.seed, context.verification_method, cred.xsd_datetime(now), [unsigned])[0]
    if outcome.error:  # the pathway and its components were each signable: this is a bug, not input
        raise InvalidInput(outcome.error, code="unsafe_document")
    row = credentials_repo.credential_row(
        credential_id=credential_id, issuer_id=issuer.id, achievement_id=pathway.id, key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=now, valid_until=valid_until,
        now=now, learner_id=learner_id)
    credentials_repo.insert_credentials(session, [row])
    # Webhooks (docs/webhooks.md): the credential, then the award, in this transaction and that order.
    events.issued(session, issuer.id, [row])
    events.record(session, issuer.id, events.PATHWAY_AWARDED, credential_id, {
        "credential": events.credential_ref(credential_id, outcome.document["id"], pathway.id, learner_id),
        "pathway_id": pathway.id, "learner_id": learner_id,
        "components": [{"url": h.url, "credential_id": h.credential_id, "external_id": h.external_id}
                       for h in components]})
    outbox.add_outbox(session, issuer.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    log.info("awarded pathway %s to learner %s: credential %s", pathway.id, learner_id, credential_id)
    return Held(url=outcome.document["id"], credential_hash=outcome.credential_hash, name=pathway.name,
                subject=subject, created_at=now, credential_id=credential_id)

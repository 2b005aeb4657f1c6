"""Components from elsewhere (docs/pathways.md, "Components from elsewhere").

``POST /api/v1/learners/{id}/credentials/external`` takes another issuer's credential (JSON, or
a baked PNG). It is stored only when its recipient is the learner — ``credentialSubject.id`` is
the learner's DID, or the submitter gives the learner's email, whose keyed hash is the learner's
and whose salted OB 3.0 identity hash is the credential's — and it counts toward a pathway only
while the verifier says ``valid``. The issuer does not import the verifier: it asks the
verifier's ``POST /api/v1/verify`` over HTTP (``MICROCRED_VERIFIER_URL``) and fails closed: an
answer it cannot get, or ``pending`` / ``unavailable``, leaves the component ``pending``, asked
again later by the award runner; ``revoked``, ``expired`` and ``invalid`` never count. A counted
one is asked again before every award that may rest on it (``MICROCRED_EXTERNAL_FRESHNESS``) and
every ``MICROCRED_EXTERNAL_RECHECK_SECONDS``.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy.orm import Session, sessionmaker

from services.core import safejson
from services.core.baking import BakingError, unbake
from services.core.credential import CredentialFormatError, check_shape
from services.core.db import transaction, utcnow
from services.core.errors import InvalidInput, NotFound
from services.core.jsonld import JsonLdDocumentError, credential_hash
from services.issuer.credentials import document as cred
from services.issuer.ids import new_id
from services.issuer.learners import keys as learner_keys, repository as learners_repo
from services.issuer.learners import service as learners
from services.issuer.models import ExternalCredential, Issuer
from services.issuer.pathways import awards, repository as repo
from services.issuer.pathways.verifier_client import VerifierClient, VerifierUnavailable
from services.issuer.pathways import requirements as rules
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer.pathways")

FINAL = ("revoked", "expired", "invalid")  # never asked again, never counts
MAX_PNG = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    state: str  # valid | pending | revoked | suspended | expired | invalid
    reason: str


def verdict(verifier: VerifierClient, document: dict) -> Verdict:
    try:
        report = verifier.verify(document)
    except VerifierUnavailable as exc:
        return Verdict("pending", str(exc))
    status = report["status"]
    if status == "valid" and report.get("verified") is True:
        return Verdict("valid", "verified")
    failed = [c.get("message", "") for c in report.get("checks", []) if isinstance(c, dict)
              and c.get("status") in ("failed", "skipped")]
    reason = f"the verifier says {status}" + (f": {failed[0]}" if failed else "")
    if status in ("revoked", "suspended", "expired", "invalid"):
        return Verdict(status, reason)
    return Verdict("pending", reason)  # pending, unavailable: asked again later


def _next_check(settings: IssuerSettings, state: str, now: datetime, since: datetime | None = None) -> datetime | None:
    """When to ask again: never for a final verdict; a pending one sooner the younger it is (a
    quarter of its age, 2 s to 5 min)."""
    if state in FINAL:
        return None
    if state == "valid":
        return now + timedelta(seconds=settings.external_recheck_seconds)
    age = (now - since).total_seconds() if since is not None else 0.0
    return now + timedelta(seconds=min(300.0, max(2.0, age / 4)))


def read_upload(body: bytes, content_type: str) -> tuple[dict, str | None]:
    """(credential, email) from a JSON body ``{"credential", "email"?}`` or a baked PNG (``?email=``)."""
    if content_type.startswith("image/png"):
        if len(body) > MAX_PNG:
            raise InvalidInput(f"the PNG is larger than {MAX_PNG} bytes", code="invalid_credential")
        try:
            return safejson.check(unbake(body)), None
        except BakingError as exc:
            raise InvalidInput(f"the PNG: {exc}", code="invalid_credential") from None
        except safejson.UnsafeJSON as exc:
            raise InvalidInput(f"the baked credential: {exc}", code="invalid_credential") from None
    try:
        data = safejson.loads(body)
    except safejson.UnsafeJSON as exc:
        raise InvalidInput(f"request body: {exc}", code="invalid_json") from None
    if not isinstance(data, dict) or not isinstance(data.get("credential"), dict) \
            or set(data) - {"credential", "email"}:
        raise InvalidInput('give {"credential": {…}, "email"?: "…"}, or the baked PNG as image/png',
                           code="invalid_request")
    email = data.get("email")
    if email is not None and (not isinstance(email, str) or len(email) > 320):
        raise InvalidInput("email: must be an email address")
    return data["credential"], email


def _recipient_matches(settings: IssuerSettings, session: Session, issuer: Issuer, learner, subject: dict,
                       email: str | None) -> bool:
    if learner.did and subject.get("id") == learner.did:
        return True
    if email is None or learner.email_key is None:
        return False
    secret = learners.secret(session, settings, issuer)
    if not hmac.compare_digest(learner_keys.email_key(secret, email), learner.email_key):
        return False
    identifiers = subject.get("identifier")
    identifiers = identifiers if isinstance(identifiers, list) else [identifiers]
    for ident in identifiers:
        if isinstance(ident, dict) and ident.get("identityType") == "emailAddress" and ident.get("hashed") is True \
                and isinstance(ident.get("salt"), str) and isinstance(ident.get("identityHash"), str) \
                and hmac.compare_digest(cred.identity_hash(email, ident["salt"]), ident["identityHash"]):
            return True
    return False


def submit(session: Session, settings: IssuerSettings, issuer: Issuer, learner_id: str, document: dict,
           email: str | None, verifier: VerifierClient) -> ExternalCredential:
    learner = learners_repo.learner(session, issuer.id, learner_id)
    if learner is None:
        raise NotFound(f"no learner {learner_id!r} for this issuer")
    try:
        check_shape(document)
        digest = "0x" + credential_hash(document).hex()
    except (CredentialFormatError, JsonLdDocumentError) as exc:
        raise InvalidInput(f"not a credential that can be verified: {exc}", code="invalid_credential") from None
    issuer_field = document.get("issuer")
    issuer_did = issuer_field.get("id") if isinstance(issuer_field, dict) else issuer_field
    subject = document.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    achievement_url = achievement.get("id") if isinstance(achievement, dict) else None
    url = document.get("id")
    if not isinstance(issuer_did, str) or not issuer_did.startswith("did:"):
        raise InvalidInput("issuer: must be a DID", code="invalid_credential")
    if not isinstance(achievement_url, str) or not achievement_url.startswith(("https://", "http://")):
        raise InvalidInput("credentialSubject.achievement.id: must be the achievement's URL", code="invalid_credential")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InvalidInput("id: must be the credential's URL, so that a verifier of the pathway credential can "
                           "fetch it", code="invalid_credential")
    if issuer_did == issuer.did:
        raise InvalidInput("this is one of your own credentials; it counts already", code="not_external")
    if not _recipient_matches(settings, session, issuer, learner, subject, email):
        raise InvalidInput("the credential's recipient is not this learner (give the learner's email, or the "
                           "credential must name the learner's DID)", code="recipient_mismatch")
    existing = repo.external_by_hash(session, issuer.id, learner.id, digest)
    if existing is not None:
        return existing
    now = utcnow()
    found = verdict(verifier, document)
    row = ExternalCredential(
        id=new_id("ext"), issuer_id=issuer.id, learner_id=learner.id,
        document=orjson.dumps(document).decode(), credential_hash=digest, credential_url=url,
        issuer_did=issuer_did, achievement_url=achievement_url, state=found.state, reason=found.reason,
        checked_at=now, next_check_at=_next_check(settings, found.state, now), created_at=now)
    session.add(row)
    session.flush()
    if found.state == "valid":
        awards.queue(session, issuer.id, [(learner.id, rules.external_ref(issuer_did, achievement_url))], now)
    return row


def _apply(session: Session, settings: IssuerSettings, external_id: str, found: Verdict, now: datetime) -> None:
    row = session.get(ExternalCredential, external_id)
    if row is None:
        return
    became_valid = found.state == "valid" and row.state != "valid"
    row.state, row.reason, row.checked_at = found.state, found.reason, now
    row.next_check_at = _next_check(settings, found.state, now, row.created_at)
    if became_valid:
        awards.queue(session, row.issuer_id, [(row.learner_id, rules.external_ref(row.issuer_did,
                                                                                  row.achievement_url))], now)


def recheck(settings: IssuerSettings, sessions: sessionmaker[Session], verifier: VerifierClient,
            external_ids: list[str]) -> None:
    """Ask the verifier again about these components, outside any transaction, and store the answers."""
    for external_id in external_ids:
        with transaction(sessions) as session:
            row = session.get(ExternalCredential, external_id)
            document = orjson.loads(row.document) if row is not None else None
        if document is None:
            continue
        found = verdict(verifier, document)
        with transaction(sessions) as session:
            _apply(session, settings, external_id, found, utcnow())


def recheck_due(settings: IssuerSettings, sessions: sessionmaker[Session], verifier: VerifierClient) -> bool:
    with transaction(sessions) as session:
        due = repo.externals_due(session, utcnow(), 20)
    recheck(settings, sessions, verifier, due)
    return bool(due)


def recheck_for_award(settings: IssuerSettings, sessions: sessionmaker[Session], verifier: VerifierClient,
                      issuer_id: str, learner_id: str) -> None:
    """Before an award: a counted component not checked within MICROCRED_EXTERNAL_FRESHNESS is asked again."""
    stale_before = utcnow() - timedelta(seconds=settings.external_freshness)
    with transaction(sessions) as session:
        stale = [e.id for e in repo.externals(session, issuer_id, learner_id)
                 if e.state == "valid" and (e.checked_at is None or e.checked_at < stale_before)]
    recheck(settings, sessions, verifier, stale)

"""The W3C VC-API on the issuer (docs/vc-api.md): routes and the one use case they need.

* ``POST /credentials/issue`` (API key scope ``issue``): ``{"credential", "options"}`` → 201
  ``{"verifiableCredential"}``. The caller builds the OB 3.0 credential; we check it, fill in
  what is ours to fill (``issuer``, ``id``, ``validFrom``, ``validUntil`` from the achievement's
  shelf life, ``name``, the achievement, ``credentialStatus``: its entries in the issuer's
  revocation and suspension status lists), sign it with the caller's active key exactly as our
  own issuance does (``signing.sign_documents``), and store it with its hash in the outbox in
  one transaction — so it is anchored, revocable, suspendable and listed like any other. A
  generic W3C VC 2.0 (VC 2.0 context first, no Open Badges context or type) is issued the same
  way, without an achievement: its issuer is the caller's DID, its other members as written.
* ``GET /credentials/{id}`` (scope ``read``): the verifiable credential itself, as stored.
* ``POST /credentials/status`` (scope ``revoke``): revoke, suspend or lift a suspension through
  the existing use cases (``credentials.service.revoke_credential``, ``suspend_credential``,
  ``unsuspend_credential``).

Refusals are 400 with ``{"error": {"code", "message"}}`` (the VC-API's "Bad Request"), and
nothing is stored. A body that is not the right JSON shape at all stays FastAPI's 422, as
everywhere in our APIs. Another issuer's credential is 404, never 403.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from services.core.credential import (CONTEXTS, CREDENTIAL_TYPES, MAX_DEPTH, MAX_STRING, OB_CONTEXTS,
                                      OB_CREDENTIAL_TYPES, VC1_CONTEXT, VC_CONTEXT, CredentialFormatError,
                                      check_contexts, check_shape)
from services.core.errors import AppError, Conflict, NotFound
from services.core.jsonld import MAX_ARRAY_ITEMS, MAX_VALUES, DocumentTooLargeError, check_size
from services.core.safejson import describe_char, unsafe_char
from services.issuer import idempotency, signing, statuslists
from services.issuer.achievements import repository as achievements_repo
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials import builder, document as cred, repository as repo, service
from services.issuer.issuers import repository as issuers_repo
from services.issuer.learners import service as learners
from services.issuer.deps import Issuing, Reading, Revoking, SessionDep, SettingsDep
from services.issuer.models import Achievement, Credential, Issuer, OutboxKind
from services.issuer.pathways import awards, definitions as pathways
from services.issuer.credentials.schemas import EvidenceIn, RevokeIn, SuspendIn
from services.issuer.schemas import EARLIEST, LATEST
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import events

router = APIRouter(tags=["vc-api"])

# What options mean for eddsa-rdfc-2022 issuance (docs/vc-api.md). Anything else is refused.
ISSUE_OPTIONS = ("created", "credentialId")
_NOT_FOR_ISSUANCE = {
    "challenge": "a challenge protects a presentation's proof against replay; the assertion proof of an issued "
                 "credential carries none, and no verifier would check one",
    "domain": "a domain ties a presentation's proof to the verifier it is meant for; the assertion proof of an "
              "issued credential is meant for every verifier",
    "mandatoryPointers": "eddsa-rdfc-2022 has no selective disclosure: every statement is signed and always shown "
                         "(mandatory pointers are for ecdsa-sd-2023 and bbs-2023)",
}
STATUS_TYPES = ("BitstringStatusListEntry", "BitstringStatusList", cred.STATUS_TYPE)
_LEGACY_STATUS = {"revoked": ("revocation", True), "suspended": ("suspension", True),
                  "unsuspended": ("suspension", False)}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_OWN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HANDLE_MAX = 200  # a caller's credential id or credentialId, kept as a lookup handle
_HANDLE_KIND = "vcapi"  # the resource kind of a handle in issuer_idempotency
CREATED_SKEW = timedelta(seconds=60)  # how far in the future options.created may be (clocks differ)
MAX_STATUS_ENTRIES = 4  # entries in one status update (a credential has two: revocation, suspension)
MAX_EVIDENCE = 10  # as POST /api/v1/credentials takes
MAX_NAME = 200  # a credential's, or its recipient's, name: as our issuance takes them


class VcApiRefused(AppError):
    """The VC-API's 400 Bad Request: the message says what to change."""

    status_code = 400
    code = "invalid_credential"


def _refuse(message: str, code: str = "invalid_credential") -> VcApiRefused:
    return VcApiRefused(message, code=code)


# -- bodies ---------------------------------------------------------------------------------------
class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # unknown members are refused with 400, not 422
    credential: dict[str, Any] = Field(description="an unsigned OB 3.0 credential, or a generic W3C VC 2.0 "
                                                   "(docs/vc-api.md)")
    options: dict[str, Any] | None = Field(None, description=f"accepted: {', '.join(ISSUE_OPTIONS)}")


class IssueResponse(BaseModel):
    verifiableCredential: dict[str, Any]


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    credentialId: str = Field(min_length=1, max_length=2048,
                              description="the credential's id (ours or the one it was issued with), or our URL")
    credentialStatus: dict[str, Any] | list[dict[str, Any]] = Field(
        description="{type, statusPurpose} with 'status' (boolean), or a list of {type, status: 'revoked'|…}")
    status: bool | None = Field(None, description="the new status for credentialStatus.statusPurpose")
    reason: str | None = Field(None, description="extension: the reason recorded for a revocation or suspension "
                                                 "(default: 'revoked/suspended through the VC API')")


class StatusResponse(BaseModel):
    credentialId: str
    id: str
    url: str
    status: str
    revokedAt: str | None
    revocationReason: str | None
    suspendedAt: str | None
    suspensionReason: str | None


# -- routes ---------------------------------------------------------------------------------------
def _wake(request: Request, name: str) -> None:
    event = getattr(request.app.state, name, None)
    if event is not None:
        event.set()


@router.post("/credentials/issue", status_code=201, response_model=IssueResponse,
             responses={400: {"description": "not a credential this issuer signs, or an unknown option"}})
def issue_credential(body: IssueRequest, principal: Issuing, session: SessionDep, settings: SettingsDep,
                     request: Request, response: Response, tasks: BackgroundTasks) -> IssueResponse:
    """VC-API *Issue Credential*: sign the OB 3.0 credential the caller built, store it, anchor it."""
    if body.model_extra:
        raise _refuse(f"unknown request member(s): {', '.join(sorted(body.model_extra))}; the body is "
                      "{\"credential\", \"options\"}", code="unknown_data")
    document, credential_id = issue(session, settings, principal.issuer, body.credential, body.options or {})
    tasks.add_task(_wake, request, "wake_relay")
    tasks.add_task(_wake, request, "wake_awards")
    response.headers["Location"] = f"/credentials/{credential_id}"
    return IssueResponse(verifiableCredential=document)


CredentialRef = Annotated[str, Path(min_length=1, max_length=2048,
                                    description="our credential id, its URL, or the id it was issued with")]


@router.get("/credentials/{credential_id:path}", responses={404: {"description": "no such credential of yours"}})
def get_credential(credential_id: CredentialRef, principal: Reading, session: SessionDep,
                   settings: SettingsDep) -> JSONResponse:
    """VC-API *Get a Specific Credential*: the verifiable credential (with its anchor proof once anchored)."""
    c = find_credential(session, settings, principal.issuer, credential_id)
    if c is None:
        raise NotFound(f"no credential {credential_id!r} for this issuer")
    return JSONResponse(orjson.loads(c.document))


@router.post("/credentials/status", response_model=StatusResponse,
             responses={400: {"description": "an update this service does not make"},
                        404: {"description": "no such credential of yours"}})
def update_status(body: StatusRequest, principal: Revoking, session: SessionDep, settings: SettingsDep,
                  request: Request, tasks: BackgroundTasks) -> StatusResponse:
    """VC-API *Update Status*: revoke (final; first revocation wins), suspend, or lift a suspension.

    The same use cases as ``POST /api/v1/credentials/{id}/revoke``, ``…/suspend`` and
    ``…/unsuspend``: 409 for a revoked credential's suspension, or for one issued before
    status lists (it has no suspension entry).
    """
    if body.model_extra:
        raise _refuse(f"unknown request member(s): {', '.join(sorted(body.model_extra))}", code="unknown_data")
    changes = status_changes(body)
    reasons = {purpose: _reason(body.reason, purpose) for purpose, value in changes if value}
    c = find_credential(session, settings, principal.issuer, body.credentialId)
    if c is None:
        raise NotFound(f"no credential {body.credentialId!r} for this issuer")
    _check_entries_named(body, orjson.loads(c.document))
    for purpose, value in changes:
        if purpose == statuslists.REVOCATION:
            service.revoke_credential(session, principal.issuer, c.id, reasons[purpose])
        elif value:
            service.suspend_credential(session, principal.issuer, c.id, reasons[purpose])
        else:
            service.unsuspend_credential(session, principal.issuer, c.id)
    tasks.add_task(_wake, request, "wake_relay")
    read = service.get_credential(session, principal.issuer, c.id)
    return StatusResponse(credentialId=body.credentialId, id=read.id, url=read.url, status=read.status,
                          revokedAt=cred.xsd_datetime(read.revoked_at) if read.revoked_at else None,
                          revocationReason=read.revocation_reason,
                          suspendedAt=cred.xsd_datetime(read.suspended_at) if read.suspended_at else None,
                          suspensionReason=read.suspension_reason)


# -- finding a credential ---------------------------------------------------------------------------
def _handle_key(handle: str) -> str:
    return f"{_HANDLE_KIND}:{handle}"


def find_credential(session: Session, settings: IssuerSettings, issuer: Issuer, ref: str) -> Credential | None:
    """The issuer's credential named by ``ref``: our id, our URL, or the id it was issued with."""
    own = cred.credential_url(settings.public_base_url, "")
    candidate = ref[len(own):] if ref.startswith(own) else ref
    if _OWN_ID.match(candidate):
        found = repo.credential(session, issuer.id, candidate)
        if found is not None:
            return found
    if len(ref) <= _HANDLE_MAX:
        record = idempotency.idempotency_record(session, issuer.id, _handle_key(ref))
        if record is not None and record.resource_kind == _HANDLE_KIND:
            return repo.credential(session, issuer.id, record.resource_id)
    return None


# -- issuing ----------------------------------------------------------------------------------------
def issue(session: Session, settings: IssuerSettings, issuer: Issuer, credential: dict[str, Any],
          options: dict[str, Any]) -> tuple[dict, str]:
    """Check, complete, sign and store a caller-built credential; (the signed document, our credential id).

    The pieces are our own issuance's (``credentials.service.issue_credential``): the document from
    ``credentials.builder.build`` (the caller's parts kept), the active key through ``service.signer``,
    ``signing.sign_documents``, ``repository.credential_row`` and ``insert_credentials`` and the anchor
    outbox message, in the request's transaction.
    """
    created, credential_handle = _issue_options(options)
    _check_limits(credential)
    _check_text(credential)
    generic = _generic(credential)
    types = credential.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    if not generic and credential.get("@context") != list(CONTEXTS):
        raise _refuse(f"@context must be exactly {list(CONTEXTS)} (an Open Badges 3.0 credential, VC 2.0), or "
                      f"start with {VC_CONTEXT} and name no Open Badges context (a W3C Verifiable Credential 2.0)")
    if not generic and not all(t in types for t in CREDENTIAL_TYPES):
        raise _refuse(f"type must include {' and '.join(CREDENTIAL_TYPES)}")
    if generic and "VerifiableCredential" not in types:
        raise _refuse("type must include VerifiableCredential")
    for member, why in (("proof", "this issuer signs unsigned credentials only (no proof sets or chains of "
                                  "others' proofs)"),
                        ("credentialStatus", "the status entries are this issuer's to assign (revocation is "
                                             "POST /credentials/status)")):
        if member in credential:
            raise _refuse(f"{member}: leave it out: {why}")
    subject = credential.get("credentialSubject")
    if generic:
        try:  # named before any JSON-LD work: an unbundled context would only be an "undefined term" there
            check_contexts(credential["@context"])
        except CredentialFormatError as exc:
            raise _refuse(f"not a credential our verifier accepts: {exc}") from None
        subjects = subject if isinstance(subject, list) else [subject]
        if not subjects or not all(isinstance(s, dict) for s in subjects):
            raise _refuse("credentialSubject must be an object, or a list of objects")
        for one in subjects:
            _one_line(one.get("name"), "credentialSubject.name")
            _check_identifiers(one)
        _check_issuer(credential.get("issuer"), issuer, None)
        achievement, achievement_doc, profile = None, None, issuer.did
    else:
        if not isinstance(subject, dict):
            raise _refuse("credentialSubject must be one object (an AchievementSubject)")
        subject_types = subject.get("type")
        subject_types = [subject_types] if isinstance(subject_types, str) else subject_types or []
        if not isinstance(subject_types, list) or "AchievementSubject" not in subject_types:
            raise _refuse("credentialSubject.type must include AchievementSubject")
        _one_line(subject.get("name"), "credentialSubject.name")
        _check_identifiers(subject)
        _check_evidence(credential.get("evidence"))
        profile = builder.profile_document(issuer)
        _check_issuer(credential.get("issuer"), issuer, profile)
        achievement, achievement_doc = _achievement(session, settings, issuer, subject.get("achievement"))
    handles = _handles(settings, credential.get("id"), credential_handle)
    for handle in handles:
        record = idempotency.idempotency_record(session, issuer.id, _handle_key(handle))
        if record is not None:
            raise Conflict(f"a credential with id {handle!r} was already issued (ours: {record.resource_id}); "
                           "each credential is issued once", code="already_issued")

    now = datetime.now(UTC)
    valid_from = _datetime(credential.get("validFrom"), "validFrom") if "validFrom" in credential else now
    valid_until, until_text = _valid_until(credential, achievement, valid_from)
    credential_id = cred.new_credential_id()
    caller = builder.CallerParts(id=credential.get("id"), types=types, name=_one_line(credential.get("name"), "name"),
                                 valid_from=credential.get("validFrom"), valid_until=until_text, members=credential)
    if generic:
        def unsigned(status: list[dict]) -> dict[str, Any]:
            return builder.build_generic(settings, credential_id=credential_id, context=credential["@context"],
                                         issuer_did=issuer.did, valid_from=valid_from, status=status, caller=caller)
    else:
        template = builder.Template(profile=profile, achievement=achievement_doc,
                                    validity_days=achievement.validity_days)

        def unsigned(status: list[dict]) -> dict[str, Any]:
            return builder.build(settings, template, credential_id=credential_id, subject=subject,
                                 valid_from=valid_from, valid_until=valid_until, status=status, caller=caller)

    key = issuers_repo.active_signing_key(session, issuer.id)
    if key is None:  # pragma: no cover - every issuer has one
        raise Conflict("this issuer has no active signing key")
    if created is not None and created < key.created_at.replace(microsecond=0):
        raise _refuse("options.created: before this issuer's signing key existed "
                      f"({cred.xsd_datetime(key.created_at)})", code="invalid_option")
    signer = service.signer(settings, issuer, key)
    proof_created = cred.xsd_datetime(created or now)
    # Signed first with status entries shaped like real ones (nothing allocated), so a credential
    # refused here leaves no status list index behind (a savepoint can outlive a rollback on SQLite).
    _signed(signer, proof_created, unsigned(statuslists.probe_status(settings, issuer)))
    # Its indices in the current revocation and suspension lists, written in this transaction (as ours).
    status = statuslists.allocate(session, settings, issuer, [credential_id])[credential_id]
    outcome = _signed(signer, proof_created, unsigned(status))
    # Linked to its learner by the DID it names (its email is only a salted hash: docs/learners.md).
    # A generic VC may list several subjects: then it names no one learner.
    did = subject.get("id") if isinstance(subject, dict) and isinstance(subject.get("id"), str) \
        and subject["id"].startswith("did:") else None
    learner_id = learners.link(session, settings, issuer, did=did)
    row = repo.credential_row(
        credential_id=credential_id, issuer_id=issuer.id, achievement_id=achievement.id if achievement else None,
        key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=valid_from,
        valid_until=valid_until, now=now, learner_id=learner_id)
    repo.insert_credentials(session, [row])
    events.issued(session, issuer.id, [row])  # webhooks (docs/webhooks.md), in this transaction
    outbox.add_outbox(session, issuer.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    if achievement is not None:  # a generic VC names no achievement, so it completes no pathway
        awards.queue(session, issuer.id, [(learner_id, achievement.id)], now)
    fingerprint = hashlib.sha256(orjson.dumps(credential, option=orjson.OPT_SORT_KEYS)).hexdigest()
    for handle in handles:
        if not idempotency.add_idempotency_record(session, issuer.id, _handle_key(handle), fingerprint, _HANDLE_KIND,
                                           credential_id):
            raise Conflict(f"a credential with id {handle!r} is being issued by another request",
                           code="already_issued")
    session.flush()
    return outcome.document, credential_id


def _signed(signer: service.SignerContext, created: str, unsigned: dict[str, Any]) -> signing.SignOutcome:
    """Signed as our own issuance signs, and in the shape every verifier of ours requires, or refused."""
    outcome = signing.sign_documents(signer.seed, signer.verification_method, created, [unsigned])[0]
    if outcome.error:
        raise _refuse(outcome.error, code="unsafe_document")
    try:
        check_shape(outcome.document)
    except CredentialFormatError as exc:
        raise _refuse(f"not a credential our verifier accepts: {exc}") from None
    return outcome


def _issue_options(options: dict[str, Any]) -> tuple[datetime | None, str | None]:
    for name in options:
        if name in _NOT_FOR_ISSUANCE:
            raise _refuse(f"options.{name} is not accepted: {_NOT_FOR_ISSUANCE[name]}", code="unknown_option")
        if name not in ISSUE_OPTIONS:
            raise _refuse(f"options.{name} is not an option this issuer knows; accepted: {', '.join(ISSUE_OPTIONS)}",
                          code="unknown_option")
    created = None
    if "created" in options:
        created = _datetime(options["created"], "options.created", code="invalid_option")
        if created > datetime.now(UTC) + CREATED_SKEW:
            raise _refuse("options.created: must not be in the future", code="invalid_option")
        created = created.replace(microsecond=0)
    handle = options.get("credentialId")
    if handle is not None:
        _check_handle(handle, "options.credentialId")
    return created, handle


def _check_limits(credential: dict[str, Any]) -> None:
    try:  # the verifier's limits, before any other work (docs/signing.md)
        check_size(credential, max_values=MAX_VALUES, max_items=MAX_ARRAY_ITEMS, max_depth=MAX_DEPTH,
                   max_string=MAX_STRING)
    except DocumentTooLargeError as exc:
        raise _refuse(str(exc).replace("the document", "the credential", 1), code="credential_too_large") from None


def _check_text(value: Any) -> None:
    """Every key and string: no control or bidirectional character, no lone surrogate (our Prose rule)."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                path = f"{where}.{key}" if where else key
                if (char := unsafe_char(key, multiline=False)) is not None:
                    raise _refuse(f"{where or 'credential'}: a key must not contain {describe_char(char)}",
                                  code="unsafe_text")
                stack.append((inner, path))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))
        elif isinstance(item, str) and (char := unsafe_char(item, multiline=True)) is not None:
            raise _refuse(f"{where}: must not contain {describe_char(char)}", code="unsafe_text")


def _one_line(value: Any, where: str) -> str | None:
    """A name people read: absent, or one string on one line (the page shows it as signed)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _refuse(f"{where}: must be one non-empty text value")
    if (char := unsafe_char(value, multiline=False)) is not None:
        raise _refuse(f"{where}: must not contain {describe_char(char)}", code="unsafe_text")
    if len(value) > MAX_NAME:
        raise _refuse(f"{where}: at most {MAX_NAME} characters")
    return value


def _check_evidence(evidence: Any) -> None:
    """Evidence as our own issuance writes it: at most 10, each checked by the same rules (schemas.EvidenceIn)."""
    if evidence is None:
        return
    items = evidence if isinstance(evidence, list) else [evidence]
    if len(items) > MAX_EVIDENCE:
        raise _refuse(f"evidence: at most {MAX_EVIDENCE} (got {len(items)})")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not _same(["Evidence"], item.get("type")):
            raise _refuse(f"evidence[{i}]: an object with type Evidence")
        try:
            EvidenceIn.model_validate({k: v for k, v in item.items() if k != "type"})
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error.get("loc", ()))
            raise _refuse(f"evidence[{i}]{'.' + where if where else ''}: {error.get('msg', 'invalid')}") from None


def _check_identifiers(subject: dict[str, Any]) -> None:
    identifiers = subject.get("identifier")
    for i, identity in enumerate(identifiers if isinstance(identifiers, list) else [identifiers]):
        if isinstance(identity, dict) and identity.get("identityType") == "emailAddress" \
                and identity.get("hashed") is not True:
            raise _refuse(f"credentialSubject.identifier[{i}]: a plain email address would be published in the "
                          "credential; give its OB 3.0 identityHash (hashed: true, 'sha256$…' with a salt) instead")


def _same(stored: Any, given: Any) -> bool:
    """Equal as JSON-LD reads them: a single value and a one-item array are the same."""
    def one(value: Any) -> Any:
        return value[0] if isinstance(value, list) and len(value) == 1 else value
    return stored == given or one(stored) == one(given)


def _generic(credential: dict[str, Any]) -> bool:
    """A W3C VC 2.0 that is not an Open Badge: VC 2.0 context first, no OB context, no OB type.

    Its other contexts must be bundled (check_shape, on the signed document, says which is not).
    """
    context = credential.get("@context")
    if not isinstance(context, list) or not context or context[0] != VC_CONTEXT:
        if isinstance(context, list) and context and context[0] == VC1_CONTEXT:
            raise _refuse(f"@context: this issuer signs VC 2.0 credentials ({VC_CONTEXT}), not VC 1.1 "
                          f"({VC1_CONTEXT}): VC 1.1 is superseded, and Open Badges 3.0 is VC 2.0")
        return False
    types = credential.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    return not any(isinstance(c, str) and c in OB_CONTEXTS for c in context) \
        and not any(t in OB_CREDENTIAL_TYPES for t in types)


def _check_issuer(value: Any, issuer: Issuer, profile: dict[str, Any] | None) -> None:
    """``issuer`` absent, the caller's DID, or an object with that ``id``; it is always filled in by us.

    A badge's issuer is its Profile as published (``profile``): other members must equal it. A
    generic VC's (``profile`` None) is written as the DID alone — the Profile's terms are the
    Open Badges context's, which a generic VC does not use.
    """
    if value is None:
        return
    given = value if isinstance(value, str) else value.get("id") if isinstance(value, dict) else None
    if given != issuer.did:
        raise _refuse(f"issuer: {given!r} is not the DID of the issuer this API key belongs to ({issuer.did}); give "
                      "that DID or leave issuer out (we fill it in)", code="issuer_mismatch")
    if not isinstance(value, dict):
        return
    if profile is None and set(value) != {"id"}:
        raise _refuse("issuer: a W3C Verifiable Credential that is not an Open Badge is issued with the issuer as "
                      "its DID alone; give the DID, or leave issuer out", code="issuer_mismatch")
    for key, item in value.items():
        if key != "id" and not _same(profile.get(key), item):
            raise _refuse(f"issuer.{key}: differs from your published profile (GET /issuers/{issuer.slug}); "
                          "leave it out: the issuer is filled in from the profile", code="issuer_mismatch")


def _achievement(session: Session, settings: IssuerSettings, issuer: Issuer,
                 given: Any) -> tuple[Achievement, dict[str, Any]]:
    """One of the caller's achievements, named by its id; the stored document is what is signed."""
    prefix = builder.achievement_url(settings, "")
    hint = (f"credentialSubject.achievement must name one of your achievements by its id ({prefix}<id>, as "
            "GET /api/v1/achievements shows; create one with POST /api/v1/achievements)")
    achievement_url = given.get("id") if isinstance(given, dict) else None
    if not isinstance(achievement_url, str) or not achievement_url.startswith(prefix):
        raise _refuse(hint, code="unknown_achievement")
    row = achievements_repo.achievement(session, issuer.id, achievement_url[len(prefix):])
    if row is None:
        raise _refuse(f"{hint}: {achievement_url!r} is not one of them", code="unknown_achievement")
    pathways.refuse_by_hand(row)
    document = builder.achievement_document(settings, row)
    for key, item in given.items():
        if not _same(document.get(key), item):
            raise _refuse(f"credentialSubject.achievement.{key}: differs from the stored achievement; send only its "
                          f"id, or the achievement exactly as GET /api/v1/achievements/{row.id} shows it",
                          code="achievement_mismatch")
    return row, document


def _check_handle(value: Any, where: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= _HANDLE_MAX or not value.isprintable() \
            or any(c.isspace() for c in value):
        raise _refuse(f"{where}: 1 to {_HANDLE_MAX} printable characters without spaces", code="invalid_id")


def _handles(settings: IssuerSettings, given_id: Any, credential_handle: str | None) -> list[str]:
    """The names the caller may later use for the credential besides ours: its own id, options.credentialId."""
    handles: list[str] = []
    if given_id is not None:
        _check_handle(given_id, "id")
        if not re.match(r"^(https?://[^/?#]+|urn:[A-Za-z0-9][A-Za-z0-9-]*:)", given_id):
            raise _refuse("id: must be an absolute http(s) URL or a URN (e.g. urn:uuid:…), or left out to get "
                          "this service's credential URL", code="invalid_id")
        if given_id.startswith(cred.credential_url(settings.public_base_url, "")):
            raise _refuse(f"id: URLs under {cred.credential_url(settings.public_base_url, '')} are given by this "
                          "service; leave id out to get one", code="invalid_id")
        handles.append(given_id)
    if credential_handle is not None and credential_handle not in handles:
        handles.append(credential_handle)
    return handles


def _datetime(value: Any, where: str, code: str = "invalid_credential") -> datetime:
    """An XML Schema dateTime with a time zone, between 1900 and 9899 (as every date our API takes)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise _refuse(f"{where}: must be a date and time with a time zone, e.g. 2026-03-05T10:00:00Z", code=code)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        raise _refuse(f"{where}: must be a real date between 1900-01-01T00:00:00Z and 9899-12-31T23:59:59Z",
                      code=code)
    return parsed


def _valid_until(credential: dict[str, Any], achievement: Achievement | None,
                 valid_from: datetime) -> tuple[datetime | None, str | None]:
    """``validUntil`` as given (within the achievement's shelf life), or from it, or none."""
    longest = cred.valid_until_for(valid_from, achievement.validity_days) if achievement else None
    if "validUntil" not in credential:
        return longest, cred.xsd_datetime(longest) if longest else None
    until = _datetime(credential["validUntil"], "validUntil")
    if until <= valid_from:
        raise _refuse("validUntil: must be after validFrom")
    if longest is not None and until > longest:
        raise _refuse(f"validUntil: the achievement is valid for {achievement.validity_days} days, so at most "
                      f"{cred.xsd_datetime(longest)}")
    return until, credential["validUntil"]


# -- status -------------------------------------------------------------------------------------------
def status_changes(body: StatusRequest) -> list[tuple[str, bool]]:
    """(purpose, new value) pairs the body asks for; refused unless this service makes that change."""
    entries = body.credentialStatus if isinstance(body.credentialStatus, list) else [body.credentialStatus]
    if not 1 <= len(entries) <= MAX_STATUS_ENTRIES:
        raise _refuse(f"credentialStatus: 1 to {MAX_STATUS_ENTRIES} entries", code="invalid_status")
    listed = isinstance(body.credentialStatus, list)
    if listed and body.status is not None:
        raise _refuse("status: give it with one credentialStatus object, or give each listed entry its own "
                      "'status' ('revoked', 'suspended', 'unsuspended')", code="invalid_status")
    changes = []
    for i, entry in enumerate(entries):
        where = f"credentialStatus[{i}]" if listed else "credentialStatus"
        unknown = set(entry) - {"type", "statusPurpose", "status", "id", "statusListIndex", "statusListCredential"}
        if unknown:
            raise _refuse(f"{where}: unknown member(s) {', '.join(sorted(unknown))}", code="unknown_data")
        if entry.get("type") not in STATUS_TYPES:
            raise _refuse(f"{where}.type: must be one of {', '.join(STATUS_TYPES)}", code="invalid_status")
        purpose = entry.get("statusPurpose")
        if listed:
            if entry.get("status") not in _LEGACY_STATUS:
                raise _refuse(f"{where}.status: must be one of {', '.join(_LEGACY_STATUS)}", code="invalid_status")
            named, value = _LEGACY_STATUS[entry["status"]]
            if purpose is not None and purpose != named:
                raise _refuse(f"{where}: status {entry['status']!r} is a change of {named}, not of {purpose}",
                              code="invalid_status")
            purpose = named
        else:
            if "status" in entry:
                raise _refuse(f"{where}.status: give the new status as the top-level boolean 'status'",
                              code="invalid_status")
            if body.status is None:
                raise _refuse("status: required (true sets the status named by credentialStatus.statusPurpose, "
                              "false clears it)", code="invalid_status")
            value = body.status
        changes.append((_check_change(purpose, value, where), value))
    if len({purpose for purpose, _ in changes}) != len(changes):
        raise _refuse("credentialStatus: one change per status purpose", code="invalid_status")
    return changes


def _check_change(purpose: Any, value: bool, where: str) -> str:
    if purpose == "revocation":
        if not value:
            raise _refuse("a revocation is final: it cannot be undone (suspension is the status that can be lifted)",
                          code="revocation_final")
        return purpose
    if purpose == "suspension":
        return purpose
    raise _refuse(f"{where}.statusPurpose: must be 'revocation' or 'suspension'", code="invalid_status")


def _reason(reason: str | None, purpose: str) -> str:
    """The reason recorded, checked as the issuer API checks its own (one line of text people read)."""
    model, default = (RevokeIn, "revoked") if purpose == statuslists.REVOCATION else (SuspendIn, "suspended")
    try:
        return model(reason=reason if reason is not None else f"{default} through the VC API").reason
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _refuse(f"reason: {error.get('msg', 'invalid')}", code="invalid_status") from None


def _check_entries_named(body: StatusRequest, document: dict[str, Any]) -> None:
    """An entry that names a list entry (id, statusListIndex, statusListCredential) must be one of the credential's."""
    entries = body.credentialStatus if isinstance(body.credentialStatus, list) else [body.credentialStatus]
    own = document.get("credentialStatus")
    own = own if isinstance(own, list) else [own] if isinstance(own, dict) else []
    for entry in entries:
        named = {k: entry[k] for k in ("id", "statusListIndex", "statusListCredential") if k in entry}
        if named and not any(all(str(o.get(k)) == str(v) for k, v in named.items()) for o in own):
            raise _refuse(f"credentialStatus names {named}, which is not an entry of this credential",
                          code="invalid_status")

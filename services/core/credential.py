"""The credentials we issue and accept (docs/issuer.md, "The credential"; docs/verifier.md): their required shape, and a summary.

Three kinds (:func:`check_shape` says which):

* ``ob3``: an Open Badges 3.0 credential (VC 2.0), ours or another platform's. Ours always
  use exactly :data:`CONTEXTS` and :data:`CREDENTIAL_TYPES`; others may use another bundled OB
  3.0 context and further bundled contexts (e.g. the OB extensions for a 1EdTech revocation
  list), and ``AchievementCredential``.
* ``vc2``: a W3C Verifiable Credential 2.0 that is not an Open Badge (no OB type, no OB
  context): what the VC-API and the W3C test suites exchange.
* ``vc1``: a W3C Verifiable Credential 1.1 (``issuanceDate``, ``expirationDate``), accepted
  by the verifier only: the W3C Data Integrity test suites sign VC 1.1 credentials.

The shape check is structural (what the verifier must be able to rely on before doing any
work): size limits first, so hostile input is refused cheaply, then the required parts, each
field that is displayed a single string. Strict safe-mode canonicalisation
(services.core.jsonld) then proves that every key is a term of the known contexts and the
JSON is the compact form of what is signed — so the strings the summary shows are the
signed ones. tests/ also validate issued credentials against the 1EdTech JSON Schema.
"""

from __future__ import annotations

import re
import functools
import json
from importlib import resources
from typing import Any

from services.core.jsonld import CONTEXTS_PACKAGE, MAX_ARRAY_ITEMS, MAX_VALUES, DocumentTooLargeError, check_size

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
OB3, VC2, VC1 = "ob3", "vc2", "vc1"  # the kinds check_shape tells apart
KIND_NAMES = {OB3: "an Open Badges 3.0 credential", VC2: "a W3C Verifiable Credential 2.0, not an Open Badge",
              VC1: "a W3C Verifiable Credential 1.1, not an Open Badge"}
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CONTEXTS = (VC_CONTEXT, OB_CONTEXT)  # what we issue
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")  # what we issue
# The bundled Open Badges 3.0 contexts, by version. 3.0.0 and 3.0.1 were written for VC 1.1:
# they redefine `description`, a protected term of the VC 2.0 context, so no VC 2.0
# credential can use them (jsonld.js and pyld both refuse), and check_shape says so.
OB_CONTEXTS = {
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "3.0.0",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "3.0.1",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "3.0.2",
    OB_CONTEXT: "3.0.3",
}
VC1_ONLY_CONTEXTS = {
    "https://www.w3.org/2018/credentials/v1": "the VC 1.1 context",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "the Open Badges 3.0.0 context, written for VC 1.1,",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "the Open Badges 3.0.1 context, written for VC 1.1,",
}
OB_CREDENTIAL_TYPES = ("OpenBadgeCredential", "AchievementCredential", "EndorsementCredential")
ENDORSEMENT_TYPE = "EndorsementCredential"  # OB 3.0: a comment on an achievement, an issuer, … (docs/endorsements.md)
MAX_STRING = 20_000
MAX_DEPTH = 12
# The size limits canonicalisation enforces too (services.core.jsonld), checked here first
# so that the verifier refuses an oversized document before any JSON-LD work.
MAX_NODES = MAX_VALUES  # kept for callers of the old name: now every JSON value counts
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class CredentialFormatError(ValueError):
    """Not a well-formed credential of a kind we accept; the message says what, in plain words."""


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def issuer_id(credential: dict) -> str | None:
    issuer = credential.get("issuer")
    return issuer if isinstance(issuer, str) else issuer.get("id") if isinstance(issuer, dict) else None


@functools.cache
def bundled_context_urls() -> frozenset[str]:
    """The context URLs canonicalisation can resolve (``services/core/contexts/index.json``)."""
    index = resources.files(CONTEXTS_PACKAGE).joinpath("index.json").read_text("utf-8")
    return frozenset(json.loads(index))


def check_contexts(context: Any) -> tuple[str, list[str]]:
    """A list of bundled context URLs, VC 2.0 (or VC 1.1) first, no repeats: (VC version, OB contexts)."""
    if not isinstance(context, list) or not context:
        raise CredentialFormatError(f"@context must be a list starting with {VC_CONTEXT}")
    # URLs only: an inline context could redefine terms without changing the canonical form,
    # which safe mode alone would not notice.
    for entry in context:
        if not isinstance(entry, str):
            raise CredentialFormatError("@context may list only context URLs, not inline context objects")
    if context[0] not in (VC_CONTEXT, VC1_CONTEXT):
        raise CredentialFormatError(f"@context must start with the VC 2.0 context {VC_CONTEXT} (or, for a "
                                    f"VC 1.1 credential, {VC1_CONTEXT})")
    version = "2.0" if context[0] == VC_CONTEXT else "1.1"
    bundled = bundled_context_urls()
    seen: set[str] = set()
    for url in context:
        if url in seen:
            raise CredentialFormatError(f"@context lists {_short(url)} twice")
        seen.add(url)
        if url not in bundled:
            raise CredentialFormatError(f"@context names {_short(url)}, a context this verifier does not know "
                                        "(contexts are never fetched; only bundled ones are accepted)")
        if version == "2.0" and url in VC1_ONLY_CONTEXTS:
            raise CredentialFormatError(f"@context names {VC1_ONLY_CONTEXTS[url]} {url}, which cannot be combined "
                                        "with the VC 2.0 context (VC 2.0 badges use context-3.0.2.json or "
                                        "context-3.0.3.json)")
        if version == "1.1" and url == VC_CONTEXT:
            raise CredentialFormatError(f"@context names both the VC 1.1 and the VC 2.0 context")
    ob = [url for url in context if url in OB_CONTEXTS]
    if len(ob) > 1:
        raise CredentialFormatError("@context must include one Open Badges 3.0 context, not several: "
                                    + ", ".join(ob))
    if ob and version == "1.1":
        raise CredentialFormatError(f"an Open Badges 3.0 credential's @context must start with the VC 2.0 context "
                                    f"{VC_CONTEXT}")
    return version, ob


def _short(url: str) -> str:
    return repr(url if len(url) <= 200 else url[:197] + "...")


def check_shape(credential: Any) -> str:
    """The credential's kind (:data:`OB3`, :data:`VC2`, :data:`VC1`), or :class:`CredentialFormatError`."""
    if not isinstance(credential, dict):
        raise CredentialFormatError("the credential must be a JSON object")
    try:
        check_size(credential, max_values=MAX_VALUES, max_items=MAX_ARRAY_ITEMS, max_depth=MAX_DEPTH,
                   max_string=MAX_STRING)
    except DocumentTooLargeError as exc:
        raise CredentialFormatError(str(exc).replace("the document", "the credential", 1)) from None
    version, ob_contexts = check_contexts(credential.get("@context"))
    types = _types(credential.get("type"))
    if "VerifiableCredential" not in types:
        raise CredentialFormatError("type must include VerifiableCredential (and OpenBadgeCredential, "
                                    "AchievementCredential or EndorsementCredential for an Open Badge)")
    # An Open Badge is told by its type; a credential that uses an OB context must be one.
    if any(t in types for t in OB_CREDENTIAL_TYPES) or ob_contexts:
        kind = OB3
        if not any(t in types for t in OB_CREDENTIAL_TYPES):
            raise CredentialFormatError("type must include VerifiableCredential and OpenBadgeCredential "
                                        "(or AchievementCredential, or EndorsementCredential): the credential uses "
                                        "an Open Badges context")
        if not ob_contexts:
            raise CredentialFormatError(f"@context must include an Open Badges 3.0 context, such as {OB_CONTEXT}")
    else:
        kind = VC2 if version == "2.0" else VC1
    given_id = credential.get("id")
    if kind == OB3 or given_id is not None:
        if not isinstance(given_id, str) or not given_id.startswith(("https://", "http://", "urn:", "did:")):
            raise CredentialFormatError("id must be the credential's URL")
    iid = issuer_id(credential)
    if not iid or not iid.startswith("did:") and not iid.startswith(("https://", "http://")):
        raise CredentialFormatError("issuer must have an id (a DID or URL)")
    start, end = ("issuanceDate", "expirationDate") if kind == VC1 else ("validFrom", "validUntil")
    begins = credential.get(start)
    if (kind != VC2 or begins is not None) and (not isinstance(begins, str) or not _DATETIME.match(begins)):
        raise CredentialFormatError(f"{start} must be a date and time with a timezone")
    until = credential.get(end)
    if until is not None and (not isinstance(until, str) or not _DATETIME.match(until)):
        raise CredentialFormatError(f"{end} must be a date and time with a timezone")
    subject = credential.get("credentialSubject")
    if kind == OB3 and is_endorsement(credential):
        _check_endorsement_subject(subject)
    elif kind == OB3:
        _check_achievement_subject(subject)
    elif not isinstance(subject, dict) and not (isinstance(subject, list) and subject
                                                and all(isinstance(s, dict) for s in subject)):
        raise CredentialFormatError("credentialSubject must be an object, or a list of objects")
    # What the report and the page display: each one string, as written and signed.
    issuer = credential.get("issuer")
    for field, value in (("name", credential.get("name")),
                         ("credentialSubject.name", subject.get("name") if isinstance(subject, dict) else None),
                         ("issuer.name", issuer.get("name") if isinstance(issuer, dict) else None)):
        _text(value, field)
    if "proof" not in credential:
        raise CredentialFormatError("the credential carries no proof")
    return kind


def _check_achievement_subject(subject: Any) -> None:
    if not isinstance(subject, dict):
        raise CredentialFormatError("credentialSubject must be one object")
    if "AchievementSubject" not in _types(subject.get("type")):
        raise CredentialFormatError("credentialSubject must be an AchievementSubject")
    achievement = subject.get("achievement")
    if not isinstance(achievement, dict) or "Achievement" not in _types(achievement.get("type")):
        raise CredentialFormatError("credentialSubject.achievement must be an Achievement")
    for field in ("name", "description"):
        if not isinstance(achievement.get(field), str) or not achievement[field].strip():
            raise CredentialFormatError(f"the achievement must have a {field}")
    if not isinstance(achievement.get("criteria"), dict):
        raise CredentialFormatError("the achievement must have criteria")


def is_endorsement(credential: dict) -> bool:
    """An OB 3.0 EndorsementCredential (and not also an achievement credential, which would be ambiguous)."""
    types = _types(credential.get("type"))
    return ENDORSEMENT_TYPE in types and not any(t in types for t in OB_CREDENTIAL_TYPES if t != ENDORSEMENT_TYPE)


def _check_endorsement_subject(subject: Any) -> None:
    """What an endorsement says: about whom or what (its ``id``), and the endorser's comment (one string)."""
    if not isinstance(subject, dict):
        raise CredentialFormatError("credentialSubject must be one object")
    if "EndorsementSubject" not in _types(subject.get("type")):
        raise CredentialFormatError("the credentialSubject of an EndorsementCredential must be an EndorsementSubject")
    about = subject.get("id")
    if not isinstance(about, str) or not about.startswith(("https://", "http://", "did:", "urn:")):
        raise CredentialFormatError("the EndorsementSubject must name what it endorses (its id, a URL or a DID)")
    _text(subject.get("endorsementComment"), "credentialSubject.endorsementComment")


def endorsement_of(credential: dict) -> dict | None:
    """``{"about", "comment"}`` of an endorsement credential (as written and signed), else None."""
    if not is_endorsement(credential):
        return None
    subject = credential.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    about, comment = subject.get("id"), subject.get("endorsementComment")
    return {"about": about if isinstance(about, str) else None, "comment": comment if isinstance(comment, str) else None}


def validity(credential: dict) -> tuple[Any, Any]:
    """(from, until) as written: ``validFrom``/``validUntil``, or VC 1.1's ``issuanceDate``/``expirationDate``."""
    context = credential.get("@context")
    if isinstance(context, list) and context and context[0] == VC1_CONTEXT:
        return credential.get("issuanceDate"), credential.get("expirationDate")
    return credential.get("validFrom"), credential.get("validUntil")


def _text(value: Any, field: str) -> str | None:
    """A displayed field: absent, or one string — never a list, a language map or a value object."""
    if value is None or isinstance(value, str):
        return value
    raise CredentialFormatError(f"{field} must be a single text value")


def summary(credential: dict) -> dict:
    """The ``credential`` part of the report: what it is, who issued it, to whom, when.

    Every field is read as one string, exactly as written (check_shape refuses anything
    else, and strict canonicalisation makes sure it is the signed value).
    """
    subject = credential.get("credentialSubject") or {}
    subject = subject if isinstance(subject, dict) else {}  # a VC may have several subjects: none is "the" recipient
    achievement = subject.get("achievement") or {}
    achievement = achievement if isinstance(achievement, dict) else {}
    issuer = credential.get("issuer")
    issuer_name = _text(issuer.get("name"), "issuer.name") if isinstance(issuer, dict) else None
    name = _text(achievement.get("name"), "credentialSubject.achievement.name")
    fallback = _text(credential.get("name"), "name")
    return {
        "id": credential.get("id"),
        "name": name or fallback,
        "issuer": issuer_name or issuer_id(credential),
        "issuerId": issuer_id(credential),
        "recipient": _text(subject.get("name"), "credentialSubject.name"),
        "validFrom": _text(validity(credential)[0], "validFrom"),
        "validUntil": _text(validity(credential)[1], "validUntil"),
    }

"""The Open Badges 3.0 credential as we issue and accept it (docs/issuer.md, "The credential"): its required shape, and a summary.

The shape is that of any OB 3.0 credential (VC 2.0), ours or another platform's: ours always
use exactly :data:`CONTEXTS` and :data:`CREDENTIAL_TYPES`; others may use another bundled OB
3.0 context and further bundled contexts (e.g. the OB extensions for a 1EdTech revocation
list), and ``AchievementCredential``. The shape check is structural (what the verifier must be able to rely on before doing any
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
OB_CREDENTIAL_TYPES = ("OpenBadgeCredential", "AchievementCredential")
MAX_STRING = 20_000
MAX_DEPTH = 12
# The size limits canonicalisation enforces too (services.core.jsonld), checked here first
# so that the verifier refuses an oversized document before any JSON-LD work.
MAX_NODES = MAX_VALUES  # kept for callers of the old name: now every JSON value counts
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class CredentialFormatError(ValueError):
    """Not a well-formed OB 3.0 credential; the message says what, in plain words."""


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


def _check_contexts(context: Any) -> None:
    """A list of bundled context URLs: VC 2.0 first, exactly one OB 3.0 context, no repeats."""
    if not isinstance(context, list) or not context:
        raise CredentialFormatError(f"@context must be a list starting with {VC_CONTEXT}")
    # URLs only: an inline context could redefine terms without changing the canonical form,
    # which safe mode alone would not notice.
    for entry in context:
        if not isinstance(entry, str):
            raise CredentialFormatError("@context may list only context URLs, not inline context objects")
    if context[0] != VC_CONTEXT:
        raise CredentialFormatError(f"@context must start with the VC 2.0 context {VC_CONTEXT}")
    bundled = bundled_context_urls()
    seen: set[str] = set()
    for url in context:
        if url in seen:
            raise CredentialFormatError(f"@context lists {_short(url)} twice")
        seen.add(url)
        if url not in bundled:
            raise CredentialFormatError(f"@context names {_short(url)}, a context this verifier does not know "
                                        "(contexts are never fetched; only bundled ones are accepted)")
        if url in VC1_ONLY_CONTEXTS:
            raise CredentialFormatError(f"@context names {VC1_ONLY_CONTEXTS[url]} {url}, which cannot be combined "
                                        "with the VC 2.0 context (VC 2.0 badges use context-3.0.2.json or "
                                        "context-3.0.3.json)")
    ob = [url for url in context if url in OB_CONTEXTS]
    if not ob:
        raise CredentialFormatError(f"@context must include an Open Badges 3.0 context, such as {OB_CONTEXT}")
    if len(ob) > 1:
        raise CredentialFormatError("@context must include one Open Badges 3.0 context, not several: "
                                    + ", ".join(ob))


def _short(url: str) -> str:
    return repr(url if len(url) <= 200 else url[:197] + "...")


def check_shape(credential: Any) -> None:
    """Raise :class:`CredentialFormatError` unless ``credential`` has the shape of an OB 3.0 credential."""
    if not isinstance(credential, dict):
        raise CredentialFormatError("the credential must be a JSON object")
    try:
        check_size(credential, max_values=MAX_VALUES, max_items=MAX_ARRAY_ITEMS, max_depth=MAX_DEPTH,
                   max_string=MAX_STRING)
    except DocumentTooLargeError as exc:
        raise CredentialFormatError(str(exc).replace("the document", "the credential", 1)) from None
    _check_contexts(credential.get("@context"))
    types = _types(credential.get("type"))
    if "VerifiableCredential" not in types or not any(t in types for t in OB_CREDENTIAL_TYPES):
        raise CredentialFormatError("type must include VerifiableCredential and OpenBadgeCredential "
                                    "(or AchievementCredential)")
    if not isinstance(credential.get("id"), str) or not credential["id"].startswith(("https://", "http://", "urn:")):
        raise CredentialFormatError("id must be the credential's URL")
    iid = issuer_id(credential)
    if not iid or not iid.startswith("did:") and not iid.startswith(("https://", "http://")):
        raise CredentialFormatError("issuer must have an id (a DID or URL)")
    if not isinstance(credential.get("validFrom"), str) or not _DATETIME.match(credential["validFrom"]):
        raise CredentialFormatError("validFrom must be a date and time with a timezone")
    until = credential.get("validUntil")
    if until is not None and (not isinstance(until, str) or not _DATETIME.match(until)):
        raise CredentialFormatError("validUntil must be a date and time with a timezone")
    subject = credential.get("credentialSubject")
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
    # What the report and the page display: each one string, as written and signed.
    issuer = credential.get("issuer")
    for field, value in (("name", credential.get("name")), ("credentialSubject.name", subject.get("name")),
                         ("issuer.name", issuer.get("name") if isinstance(issuer, dict) else None)):
        _text(value, field)
    if "proof" not in credential:
        raise CredentialFormatError("the credential carries no proof")


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
    achievement = subject.get("achievement") or {}
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
        "validFrom": _text(credential.get("validFrom"), "validFrom"),
        "validUntil": _text(credential.get("validUntil"), "validUntil"),
    }

"""The Open Badges 3.0 credential as DESIGN §3 defines it: its required shape, and a summary.

The shape check is structural (what the verifier must be able to rely on before doing any
work): size limits first, so hostile input is refused cheaply, then the required parts, each
field that is displayed a single string. Strict safe-mode canonicalisation
(services.core.jsonld) then proves that every key is a term of the known contexts and the
JSON is the compact form of what is signed — so the strings the summary shows are the
signed ones. tests/ also validate issued credentials against the 1EdTech JSON Schema.
"""

from __future__ import annotations

import re
from typing import Any

from services.core.jsonld import MAX_ARRAY_ITEMS, MAX_VALUES, DocumentTooLargeError, check_size

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CONTEXTS = (VC_CONTEXT, OB_CONTEXT)
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")
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


def check_shape(credential: Any) -> None:
    """Raise :class:`CredentialFormatError` unless ``credential`` has the shape of DESIGN §3."""
    if not isinstance(credential, dict):
        raise CredentialFormatError("the credential must be a JSON object")
    try:
        check_size(credential, max_values=MAX_VALUES, max_items=MAX_ARRAY_ITEMS, max_depth=MAX_DEPTH,
                   max_string=MAX_STRING)
    except DocumentTooLargeError as exc:
        raise CredentialFormatError(str(exc).replace("the document", "the credential", 1)) from None
    context = credential.get("@context")
    # Exactly these two: an extra inline context could redefine terms without changing
    # the canonical form, which safe mode alone would not notice.
    if not isinstance(context, list) or tuple(context) != CONTEXTS:
        raise CredentialFormatError(f"@context must be exactly [{VC_CONTEXT}, {OB_CONTEXT}]")
    types = _types(credential.get("type"))
    if not all(t in types for t in CREDENTIAL_TYPES):
        raise CredentialFormatError("type must include VerifiableCredential and OpenBadgeCredential")
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

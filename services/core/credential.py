"""The Open Badges 3.0 credential as DESIGN §3 defines it: its required shape, and a summary.

The shape check is structural (what the verifier must be able to rely on before doing any
work); safe-mode canonicalisation (services.core.jsonld) then proves that every property
is defined by the known contexts. tests/ also validate issued credentials against the
1EdTech JSON Schema.
"""

from __future__ import annotations

import re
from typing import Any

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CONTEXTS = (VC_CONTEXT, OB_CONTEXT)
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")
MAX_STRING = 20_000
MAX_DEPTH = 12
# Bounds the canonicalisation work a hostile document can ask for (RDFC-1.0 on crafted
# blank-node graphs is exponential; pyld has no work-factor limit of its own).
MAX_NODES = 2_000
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class CredentialFormatError(ValueError):
    """Not a well-formed OB 3.0 credential; the message says what, in plain words."""


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()] or [level])
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value] or [level])
    if isinstance(value, str) and len(value) > MAX_STRING:
        raise CredentialFormatError("a text value is implausibly long")
    return level


def _count_nodes(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_nodes(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_nodes(v) for v in value)
    return 0


def issuer_id(credential: dict) -> str | None:
    issuer = credential.get("issuer")
    return issuer if isinstance(issuer, str) else issuer.get("id") if isinstance(issuer, dict) else None


def check_shape(credential: Any) -> None:
    """Raise :class:`CredentialFormatError` unless ``credential`` has the shape of DESIGN §3."""
    if not isinstance(credential, dict):
        raise CredentialFormatError("the credential must be a JSON object")
    if _depth(credential) > MAX_DEPTH:
        raise CredentialFormatError("the credential is nested too deeply")
    if _count_nodes(credential) > MAX_NODES:
        raise CredentialFormatError(f"the credential has more than {MAX_NODES} objects")
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
    if "proof" not in credential:
        raise CredentialFormatError("the credential carries no proof")


def _name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # a language map or value object
        return value.get("@value") or next((v for v in value.values() if isinstance(v, str)), None)
    return None


def summary(credential: dict) -> dict:
    """The ``credential`` part of the report: what it is, who issued it, to whom, when."""
    subject = credential.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    issuer = credential.get("issuer")
    issuer_name = _name(issuer.get("name")) if isinstance(issuer, dict) else None
    return {
        "id": credential.get("id"),
        "name": _name(achievement.get("name")) or _name(credential.get("name")),
        "issuer": issuer_name or issuer_id(credential),
        "issuerId": issuer_id(credential),
        "recipient": _name(subject.get("name")),
        "validFrom": credential.get("validFrom"),
        "validUntil": credential.get("validUntil"),
    }

"""What the pages show, computed from a report and its credential (pure; templates only format)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.core.verification import Report

VERDICTS = {
    "valid": ("Verified", "This credential is genuine, unaltered, unrevoked and current.", "ok"),
    "pending": ("Being anchored", "Signed by the issuer; its blockchain record is being confirmed. Check back in a moment.", "wait"),
    "revoked": ("Revoked", "The issuer has withdrawn this credential. It no longer certifies anything.", "bad"),
    "expired": ("Expired", "This credential was genuine but its validity period has ended.", "warn"),
    "invalid": ("Not valid", "This credential could not be verified. Do not rely on it.", "bad"),
}
CHECK_TITLES = {
    "format": "Well-formed Open Badge",
    "signature": "Issuer's signature",
    "issuer": "Registered issuer",
    "integrity": "Unaltered since issue",
    "anchor": "Recorded on the blockchain",
    "revocation": "Not revoked",
    "expiry": "Within its validity period",
}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("@value") or next((v for v in value.values() if isinstance(v, str)), None)
    return None


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _image(value: Any) -> str | None:
    url = value.get("id") if isinstance(value, dict) else value if isinstance(value, str) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://", "data:image/png", "data:image/svg")) else None


def linkedin_url(credential: dict, page_url: str, credential_id: str) -> str:
    """LinkedIn's add-to-profile link for a certification."""
    subject = credential.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), dict) else {}
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME", "name": _text(achievement.get("name")) or "Credential"}
    org_id = next((e.get("identifier") for e in issuer.get("otherIdentifier") or []
                   if isinstance(e, dict) and "linkedin" in str(e.get("identifierType", "")).lower()), None)
    if org_id:
        params["organizationId"] = str(org_id)
    else:
        params["organizationName"] = _text(issuer.get("name")) or ""
    issued = _date(credential.get("validFrom"))
    if issued:
        params.update(issueYear=str(issued.year), issueMonth=str(issued.month))
    expires = _date(credential.get("validUntil"))
    if expires:
        params.update(expirationYear=str(expires.year), expirationMonth=str(expires.month))
    params.update(certUrl=page_url, certId=credential_id)
    return "https://www.linkedin.com/profile/add?" + urlencode(params)


def view(report: Report, credential: dict | None, page_url: str, credential_id: str | None) -> dict:
    title, sentence, tone = VERDICTS[report.status]
    credential = credential or {}
    subject = credential.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {}
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), dict) else {}
    criteria = achievement.get("criteria") or {}
    return {
        "status": report.status,
        "verified": report.verified,
        "verdict": title,
        "verdict_sentence": sentence,
        "tone": tone,
        "checks": [{"title": CHECK_TITLES[c.id], **c.to_json()} for c in report.checks],
        "anchor": report.anchor,
        "achievement": {
            "name": _text(achievement.get("name")) or "Credential",
            "description": _text(achievement.get("description")),
            "criteria": _text(criteria.get("narrative")) if isinstance(criteria, dict) else None,
            "criteria_url": criteria.get("id") if isinstance(criteria, dict) else None,
            "image": _image(achievement.get("image")),
            "type": achievement.get("achievementType"),
            "alignment": [a for a in achievement.get("alignment") or [] if isinstance(a, dict)],
            "tags": [t for t in achievement.get("tag") or [] if isinstance(t, str)],
        },
        "issuer": {"name": _text(issuer.get("name")) or report.credential.get("issuer"), "url": issuer.get("url"),
                   "image": _image(issuer.get("image")), "id": issuer.get("id")},
        "recipient": _text(subject.get("name")) or report.credential.get("recipient"),
        "valid_from": _date(credential.get("validFrom")),
        "valid_until": _date(credential.get("validUntil")),
        "evidence": [e for e in credential.get("evidence") or [] if isinstance(e, dict)],
        "page_url": page_url,
        "credential_id": credential_id,
        "linkedin_url": linkedin_url(credential, page_url, credential_id) if credential_id and credential else None,
    }

"""What the pages show, computed from a report and its credential: pure, so templates only format.

The credential is hostile input even after it verified (an issuer can name anything
anything): every text goes to a template that autoescapes it, and every link is kept only
when it is ``http(s)`` — a ``javascript:`` URL never becomes an ``href``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from services.core.credential import endorsement_of
from services.core.verification import Report
from services.verifier.badge import generated_svg, image_url

# status -> (headline, sentence, tone, icon)
VERDICTS = {
    "valid": ("Verified", "This credential is genuine, unaltered, not revoked and current.", "ok", "✓"),
    "pending": ("Being recorded", "The issuer has signed this credential; its blockchain record is being "
                "confirmed. Check again in a minute.", "wait", "…"),
    "revoked": ("Revoked", "The issuer has withdrawn this credential. It no longer certifies anything.", "bad", "✕"),
    "suspended": ("Suspended", "The issuer has suspended this credential for now; it may be reinstated. Until "
                  "then it certifies nothing.", "warn", "!"),
    "expired": ("Expired", "This credential was genuine, but its validity period has ended.", "warn", "!"),
    "invalid": ("Not valid", "This credential could not be verified. Do not rely on it.", "bad", "✕"),
    "unavailable": ("Cannot be checked right now", "Part of the check could not run (a service or the blockchain "
                    "did not answer). Nothing here says the credential is false, nor that it is genuine. Try again "
                    "in a moment.", "neutral", "?"),
}
CHECK_TITLES = {
    "format": "A well-formed Open Badge",
    "signature": "Signed by the issuer",
    "issuer": "A registered issuer",
    "integrity": "Unchanged since it was issued",
    "anchor": "Recorded on the blockchain",
    "revocation": "Not revoked",
    "expiry": "Within its validity period",
}
CHECK_STATES = {"passed": ("Passed", "✓"), "failed": ("Failed", "✕"), "pending": ("In progress", "…"),
                "skipped": ("Not checked", "–")}
CHAINS = {1: "Ethereum", 11155111: "Sepolia (Ethereum testnet)", 17000: "Holesky (Ethereum testnet)",
          137: "Polygon", 10: "Optimism", 8453: "Base", 42161: "Arbitrum One", 31337: "Local development chain"}
EXPLORERS = {1: "https://etherscan.io", 11155111: "https://sepolia.etherscan.io", 17000: "https://holesky.etherscan.io",
             137: "https://polygonscan.com", 10: "https://optimistic.etherscan.io", 8453: "https://basescan.org",
             42161: "https://arbiscan.io"}
LINKEDIN_IDENTIFIER_TYPES = ("ext:linkedinorganizationid", "linkedinorganizationid")
EMBED_SIZE = (380, 132)


def text(value: Any, limit: int = 5000) -> str | None:
    """``value`` when it is one plain string, else nothing.

    Never a value object's ``@value`` or the first of several: canonicalisation refuses JSON-LD
    keywords in the body, and showing one of several values would show less than was signed.
    """
    return value[:limit] if isinstance(value, str) and value.strip() else None


def safe_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None (no ``javascript:``, no relative links)."""
    if isinstance(value, str) and value.lower().startswith(("https://", "http://")) and len(value) <= 2048 \
            and not any(c in value for c in '\x00\r\n\t "<>'):
        return value
    return None


def parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def human_date(value: datetime | None) -> str | None:
    return f"{value.day} {value:%B %Y}" if value else None


def image_src(value: Any) -> str | None:
    """An image URL a browser may load on our page: https, or an inline PNG/JPEG/SVG data URI."""
    url = image_url(value)
    if url is None:
        return None
    if url.startswith("https://") and safe_url(url):
        return url
    if url.startswith(("data:image/png;base64,", "data:image/jpeg;base64,", "data:image/svg+xml;base64,")):
        return url  # an <img> never runs script, even from an SVG
    return None


def linkedin_org_id(issuer: dict) -> str | None:
    for entry in issuer.get("otherIdentifier") or []:
        if isinstance(entry, dict) and str(entry.get("identifierType", "")).lower() in LINKEDIN_IDENTIFIER_TYPES:
            value = str(entry.get("identifier", ""))
            if value.isdigit():
                return value
    return None


def _issuer(credential: dict) -> dict:
    issuer = credential.get("issuer")
    return issuer if isinstance(issuer, dict) else {}


def competency_level(achievement: dict) -> str | None:
    """The name of the level an OB 3.0 ``resultDescription`` of type RubricCriterionLevel requires, if any."""
    for described in achievement.get("resultDescription") or []:
        if not isinstance(described, dict) or described.get("resultType") != "RubricCriterionLevel":
            continue
        for level in described.get("rubricCriterionLevel") or []:
            if isinstance(level, dict) and level.get("id") == described.get("requiredLevel"):
                return text(level.get("name"), 40)
    return None


def _achievement(credential: dict) -> dict:
    subject = credential.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    achievement = subject.get("achievement")
    return achievement if isinstance(achievement, dict) else {}


def linkedin_url(credential: dict, page_url: str, credential_id: str) -> str:
    """LinkedIn's add-to-profile link for a certification, every value URL-encoded."""
    issuer = _issuer(credential)
    params: dict[str, str] = {"startTask": "CERTIFICATION_NAME",
                              "name": text(_achievement(credential).get("name"), 200) or "Credential"}
    org_id = linkedin_org_id(issuer)
    if org_id:
        params["organizationId"] = org_id
    else:
        params["organizationName"] = text(issuer.get("name"), 200) or ""
    issued = parse_date(credential.get("validFrom"))
    if issued:
        params.update(issueYear=str(issued.year), issueMonth=str(issued.month))
    expires = parse_date(credential.get("validUntil"))
    if expires:
        params.update(expirationYear=str(expires.year), expirationMonth=str(expires.month))
    params.update(certUrl=page_url, certId=credential_id)
    return "https://www.linkedin.com/profile/add?" + urlencode(params, quote_via=quote)


def embed_snippet(page_url: str, title: str) -> str:
    width, height = EMBED_SIZE
    return (f'<iframe src="{escape(page_url, quote=True)}/embed" width="{width}" height="{height}" '
            f'style="border:0;max-width:100%" loading="lazy" title="{escape(title, quote=True)}"></iframe>')


def oembed_link(base_url: str, page_url: str) -> str:
    return f"{base_url}/oembed?" + urlencode({"url": page_url, "format": "json"}, quote_via=quote)


@dataclass(frozen=True)
class Links:
    """Where the page's images come from: our own routes for a credential of ours, else inline."""

    page_url: str  # the credential's public URL (ours), or its id (a pasted document)
    credential_id: str | None  # set only for our own credentials: enables the learner's tools
    issuer_images_prefix: str | None = None  # our issuer's image URLs, served through /c/{id}/logo


def view(report: Report, credential: dict | None, links: Links) -> dict:
    """Everything the page, the embed and the uploaded-file report show."""
    headline, sentence, tone, icon = VERDICTS[report.status]
    if report.status == "valid" and (report.assurance or {}).get("level") == "signature":
        # A badge from another platform: say plainly that only its signature stands behind it.
        headline = "Signature verified"
        sentence = ("Issued outside this platform: the issuer's digital signature is genuine and the credential is "
                    "current, but it is recorded on no blockchain, and who the issuer is rests on its DID alone.")
    credential = credential if isinstance(credential, dict) else {}
    summary = report.credential or {}
    subject = credential.get("credentialSubject") if isinstance(credential.get("credentialSubject"), dict) else {}
    achievement = _achievement(credential)
    issuer = _issuer(credential)
    criteria = achievement.get("criteria") if isinstance(achievement.get("criteria"), dict) else {}
    name = text(achievement.get("name"), 300) or text(summary.get("name"), 300) or "Credential"
    issuer_name = text(issuer.get("name"), 300) or text(summary.get("issuer"), 300) or "Unknown issuer"
    valid_from = parse_date(credential.get("validFrom") or summary.get("validFrom"))
    valid_until = parse_date(credential.get("validUntil") or summary.get("validUntil"))
    ours = links.credential_id is not None

    badge_src = f"{links.page_url}/badge.svg" if ours else image_src(achievement.get("image"))
    if badge_src is None:
        svg = generated_svg(name, issuer_name)
        badge_src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
    logo = image_url(issuer.get("image"))
    if ours and logo and links.issuer_images_prefix and logo.startswith(links.issuer_images_prefix):
        logo_src: str | None = f"{links.page_url}/logo"
    else:
        logo_src = image_src(issuer.get("image"))

    anchor = dict(report.anchor) if report.anchor else None
    if anchor:
        chain_id = anchor.get("chainId")
        anchor["chain_name"] = CHAINS.get(chain_id, f"Chain {chain_id}")
        explorer = EXPLORERS.get(chain_id)
        anchor["tx_url"] = f"{explorer}/tx/{anchor['txHash']}" if explorer and anchor.get("txHash") else None
        anchor["contract_url"] = f"{explorer}/address/{anchor['contract']}" if explorer and anchor.get("contract") else None

    checks = []
    for check in report.checks:
        state, mark = CHECK_STATES.get(check.status, (check.status, "?"))
        checks.append({"id": check.id, "title": CHECK_TITLES.get(check.id, check.id), "status": check.status,
                       "state": state, "mark": mark, "message": check.message})
    alignment = [{"name": text(a.get("targetName"), 200) or "Skill", "url": safe_url(a.get("targetUrl")),
                  "framework": text(a.get("targetFramework"), 200), "code": text(a.get("targetCode"), 100),
                  "description": text(a.get("targetDescription"), 1000)}
                 for a in (achievement.get("alignment") or [])[:50] if isinstance(a, dict)]
    component_words = {"valid": "valid", "pending": "being anchored", "revoked": "revoked", "suspended": "suspended",
                       "expired": "expired", "invalid": "not valid", "unavailable": "cannot be checked right now"}

    def stack(components: list[dict] | None) -> list[dict]:
        """A pathway credential's components, nested, as the page lists them under the verdict."""
        return [{"name": text(c.get("name"), 300) or "Component", "url": safe_url(c.get("url")),
                 "status": c.get("status"), "words": component_words.get(c.get("status"), "not valid"),
                 "good": c.get("status") in ("valid", "pending"), "components": stack(c.get("components"))}
                for c in (components or [])[:50] if isinstance(c, dict)]

    endorsement_words = {"valid": "checked", "pending": "being recorded", "revoked": "withdrawn (revoked)",
                         "suspended": "suspended", "expired": "expired", "invalid": "not valid",
                         "unavailable": "cannot be checked right now"}
    # Verified ones first; the others are shown for what they are, never as support.
    endorsements = sorted(
        ({"endorser": text(e.get("endorser"), 300) or "Unknown endorser", "comment": text(e.get("comment"), 2000),
          "url": safe_url(e.get("url")), "status": e.get("status"), "verified": e.get("verified") is True,
          "about": "its issuer" if e.get("about") == "issuer" else None,
          "words": "checked" if e.get("verified") is True else
          "not valid" if e.get("status") == "valid" else endorsement_words.get(e.get("status"), "not valid"),
          "reason": text(e.get("reason"), 500) if e.get("verified") is not True else None}
         for e in (report.endorsements or [])[:50] if isinstance(e, dict)),
        key=lambda e: not e["verified"])
    said = endorsement_of(credential) if credential else None  # this credential is itself an endorsement
    endorsing = {"about_url": safe_url(said["about"]), "about": text(said["about"], 500),
                 "comment": text(said["comment"], 2000)} if said else None

    evidence = [{"name": text(e.get("name"), 300), "url": safe_url(e.get("id")),
                 "description": text(e.get("description"), 2000), "narrative": text(e.get("narrative"), 5000)}
                for e in (credential.get("evidence") or [])[:50] if isinstance(e, dict)]
    return {
        "status": report.status,
        "verified": report.verified,
        "verdict": headline,
        "verdict_sentence": sentence,
        "tone": tone,
        "icon": icon,
        "checks": checks,
        "anchor": anchor,
        "name": name,
        "description": text(achievement.get("description")),
        "criteria": text(criteria.get("narrative")),
        "criteria_url": safe_url(criteria.get("id")),
        "achievement_type": text(achievement.get("achievementType"), 100),
        "level": competency_level(achievement),
        "category": text(achievement.get("fieldOfStudy"), 64),
        "credits": achievement.get("creditsAvailable") if isinstance(achievement.get("creditsAvailable"),
                                                                     (int, float)) else None,
        "renewed_by": safe_url(report.renewed_by) if report.renewed_by else None,
        "endorsements": endorsements,
        "endorsed_by": [e["endorser"] for e in endorsements if e["verified"]],
        "endorsements_error": text(report.endorsements_error, 300),
        "endorsement": endorsing,
        "components": stack(report.components),
        "alignment": alignment,
        "tags": [t[:60] for t in (achievement.get("tag") or [])[:30] if isinstance(t, str)],
        "evidence": [e for e in evidence if e["name"] or e["url"] or e["description"] or e["narrative"]],
        "badge_src": badge_src,
        "issuer": {"name": issuer_name, "url": safe_url(issuer.get("url")), "logo": logo_src,
                   "id": text(issuer.get("id"), 500)},
        "recipient": text(subject.get("name"), 300) or text(summary.get("recipient"), 300),
        "valid_from": human_date(valid_from),
        "valid_until": human_date(valid_until),
        "page_url": links.page_url,
        "credential_id": links.credential_id,
        "linkedin_url": linkedin_url(credential, links.page_url, links.credential_id)
        if ours and credential and not endorsing else None,
        "embed_snippet": embed_snippet(links.page_url, name) if ours else None,
    }

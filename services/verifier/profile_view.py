"""What a learner's profile shows (docs/verifier.md, "Learner profiles"), computed from the issuer's
listing and the verifier's own report on each credential: pure, so templates only format.

The listing (the issuer's ``/public/profiles/{id}``) says which credentials the learner shares and
how far each pathway is along; the verdicts are this verifier's. A pathway component counts here
only when the issuer counts it *and* this verifier finds its credential valid or being anchored; a
pathway is complete only when its awarded credential is too. An external component (another
issuer's credential) is counted as the issuer last verified it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from services.core.verification import COMPONENT_GOOD, Report
from services.verifier.pages import VERDICTS, Links, safe_url, text, view

PROFILE_EMBED_SIZE = (420, 260)
EMBED_BADGES = 12  # badges the embed card shows; the rest are counted


def credential_summary(url: str, credential_id: str, report: Report | None, credential: dict | None,
                       links: Links, *, pathway: bool = False) -> dict:
    """One credential as a profile lists it (the JSON's ``credentials[]``; the page adds display words).

    ``report`` None: the credential could not be checked right now (the issuer did not answer).
    Everything a credential report says per credential is built here, in one place.
    """
    if report is None:
        return {"id": credential_id, "url": url, "name": "Credential", "achievement": None, "level": None,
                "category": None, "skills": [], "status": "unavailable", "verified": False, "pathway": pathway,
                "issuer": None, "recipient": None, "valid_from": None, "valid_until": None, "components_valid": None,
                "endorsements": []}
    v = view(report, credential, links)
    subject = (credential or {}).get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    achievement = achievement if isinstance(achievement, dict) else {}
    components = report.to_json().get("componentsValid") if report.components is not None else None
    return {
        "id": credential_id, "url": url, "name": v["name"],
        "achievement": {"id": safe_url(achievement.get("id")), "name": v["name"], "type": v["achievement_type"]},
        "level": v["level"], "category": v["category"],
        "skills": [{"name": a["name"], "framework": a["framework"], "code": a["code"], "url": a["url"]}
                   for a in v["alignment"]],
        "status": report.status, "verified": report.verified, "pathway": pathway,
        "issuer": v["issuer"]["name"], "recipient": v["recipient"],
        "valid_from": text((credential or {}).get("validFrom"), 40),
        "valid_until": text((credential or {}).get("validUntil"), 40),
        "components_valid": components,
        # Each checked like a credential (docs/endorsements.md); only a verified one is shown as support.
        "endorsements": [{"endorser": e["endorser"], "comment": e["comment"], "url": e["url"], "verified": e["verified"]}
                         for e in v["endorsements"]],
    }


def _good(summary: dict | None) -> bool:
    return summary is not None and summary["status"] in COMPONENT_GOOD


def progress_text(held: int, required: int, name: str) -> str:
    return f"{min(held, required)} of {required} toward {name}"


def pathway_progress(listed: dict, by_url: dict[str, dict]) -> dict:
    """One pathway of the listing, counted by this verifier's verdicts (see the module's docstring)."""
    name = text(listed.get("name"), 200) or "Pathway"
    required = max(1, int(listed.get("required") or 1))
    components = []
    for c in (listed.get("components") or [])[:64]:
        url = safe_url(c.get("credential_url"))
        summary = by_url.get(url) if url else None
        external = bool(c.get("external"))
        held = bool(c.get("held")) and (external or _good(summary))
        components.append({"achievement_id": text(c.get("achievement_id"), 64), "name": text(c.get("name"), 300) or "Component",
                           "held": held, "external": external, "credential_url": url if summary or external else None,
                           "status": summary["status"] if summary else None})
    held = sum(c["held"] for c in components)
    awarded_url = safe_url(listed.get("credential_url"))
    awarded = by_url.get(awarded_url) if awarded_url else None
    return {"name": name, "achievement_id": text(listed.get("achievement_id"), 64), "required": required,
            "of": len(components), "held": held, "complete": bool(listed.get("complete")) and _good(awarded),
            "credential_url": awarded_url if awarded else None, "status": awarded["status"] if awarded else None,
            "text": progress_text(held, required, name), "components": components}


def learner_name(credentials: list[dict]) -> str | None:
    """The name the learner's newest credential that verifies carries (signed by the issuer), if any."""
    for c in reversed(credentials):
        if c["recipient"] and c["status"] not in ("invalid", "unavailable"):
            return c["recipient"]
    return None


def profile_json(profile_id: str, page_url: str, listing: dict, credentials: list[dict], checked_at: str) -> dict:
    """The profile as ``GET /p/{id}`` answers ``Accept: application/json`` (stable keys, docs/verifier.md)."""
    by_url = {c["url"]: c for c in credentials}
    issuer = listing.get("issuer") if isinstance(listing.get("issuer"), dict) else {}
    return {
        "profile_id": profile_id, "url": page_url, "learner_name": learner_name(credentials),
        "issuer": {"id": text(issuer.get("id"), 500), "name": text(issuer.get("name"), 300),
                   "url": safe_url(issuer.get("url"))},
        "checked_at": checked_at,
        "counts": {"credentials": len(credentials), "valid": sum(c["status"] == "valid" for c in credentials)},
        "credentials": credentials,
        "pathways": [pathway_progress(p, by_url) for p in (listing.get("pathways") or [])[:100] if isinstance(p, dict)],
    }


def _display(summary: dict) -> dict:
    headline, _, tone, icon = VERDICTS.get(summary["status"], VERDICTS["invalid"])
    return {**summary, "verdict": headline, "tone": tone, "icon": icon, "badge_src": summary["url"] + "/badge.svg"}


def page_view(profile: dict) -> dict:
    """The page's groups: each pathway (its credential, then its components the learner holds), then
    the credentials outside any pathway. A credential in two pathways is shown in both."""
    by_url = {c["url"]: _display(c) for c in profile["credentials"]}
    grouped: set[str] = set()
    groups = []
    for p in profile["pathways"]:
        urls = [p["credential_url"]] if p["credential_url"] else []
        urls += [c["credential_url"] for c in p["components"] if c["credential_url"] in by_url]
        grouped.update(urls)
        groups.append({"pathway": p, "title": p["name"], "credentials": [by_url[u] for u in urls if u in by_url],
                       "missing": [c["name"] for c in p["components"] if not c["held"]]})
    others = [c for u, c in by_url.items() if u not in grouped]
    if others:
        groups.append({"pathway": None, "title": "Other credentials" if profile["pathways"] else "Credentials",
                       "credentials": others, "missing": []})
    cards = list(by_url.values())
    return {**profile, "groups": groups, "cards": cards[:EMBED_BADGES], "more": max(0, len(cards) - EMBED_BADGES),
            "embed_snippet": embed_snippet(profile["url"], profile["learner_name"])}


def embed_snippet(page_url: str, learner: str | None) -> str:
    width, height = PROFILE_EMBED_SIZE
    title = f"Credentials of {learner}" if learner else "Credentials"
    return (f'<iframe src="{escape(page_url, quote=True)}/embed" width="{width}" height="{height}" '
            f'style="border:0;max-width:100%" loading="lazy" title="{escape(title, quote=True)}"></iframe>')


def oembed(profile: dict, base_url: str, maxwidth: int | None, maxheight: int | None) -> dict[str, Any]:
    width = min(maxwidth or PROFILE_EMBED_SIZE[0], PROFILE_EMBED_SIZE[0])
    height = min(maxheight or PROFILE_EMBED_SIZE[1], PROFILE_EMBED_SIZE[1])
    html = embed_snippet(profile["url"], profile["learner_name"]) \
        .replace(f'width="{PROFILE_EMBED_SIZE[0]}"', f'width="{width}"') \
        .replace(f'height="{PROFILE_EMBED_SIZE[1]}"', f'height="{height}"')
    title = f"Credentials of {profile['learner_name']}" if profile["learner_name"] else "Credentials"
    return {"version": "1.0", "type": "rich", "provider_name": "microcred", "provider_url": base_url, "title": title,
            "author_name": profile["issuer"]["name"] or "", "width": width, "height": height, "html": html}

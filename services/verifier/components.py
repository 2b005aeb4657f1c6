"""The components of a pathway credential (docs/verifier.md, "Pathway credentials"), checked like any credential.

A pathway credential names each component it was awarded for as an OB 3.0 ``evidence`` entry:
the component's URL as ``id`` and its credential hash as a VC 2.0 ``digestMultibase`` (base64url
multibase of the sha2-256 multihash; docs/pathways.md). Each one is fetched — ours by id, anyone
else's under the hostile-URL rules —, its credential hash recomputed and compared, and verified
with the same checks, its own components too: at most ``MAX_DEPTH`` levels below the credential
and ``MAX_COMPONENTS`` in all, all of one level at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.core.multiformats import sha256_from_digest_multibase

MAX_DEPTH = 4
MAX_COMPONENTS = 32


@dataclass
class Budget:
    left: int = MAX_COMPONENTS
    seen: set[str] = field(default_factory=set)


def references(credential: dict) -> list[dict]:
    """``{"url", "hash", "name"}`` of every evidence entry that names a component credential."""
    evidence = credential.get("evidence")
    entries = evidence if isinstance(evidence, list) else [evidence] if isinstance(evidence, dict) else []
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        digest = sha256_from_digest_multibase(entry.get("digestMultibase"))
        url = entry.get("id")
        if digest and isinstance(url, str) and url.startswith(("https://", "http://")):
            name = entry.get("name")
            found.append({"url": url, "hash": digest, "name": name if isinstance(name, str) else None})
    return found


async def check(credential: dict, verify_component, depth: int, budget: Budget) -> list[dict] | None:
    """The components' entries for the report, or None when the credential names none.

    ``verify_component(url, depth)`` → ``(report or None, document or None, computed hash, reason)``.
    """
    refs = references(credential)
    if not refs:
        return None
    if depth >= MAX_DEPTH:
        return [{**r, "status": "unavailable", "verified": False,
                 "reason": f"not checked: components are checked {MAX_DEPTH} levels deep at most"} for r in refs]
    todo = []
    out: list[dict] = []
    for r in refs:
        if budget.left <= 0 or r["hash"] in budget.seen:
            out.append({**r, "status": "unavailable", "verified": False,
                        "reason": "not checked: too many components" if budget.left <= 0 else "named twice"})
            continue
        budget.left -= 1
        budget.seen.add(r["hash"])
        todo.append(r)
    results = await asyncio.gather(*(verify_component(r["url"], depth + 1) for r in todo))
    for r, (report, document, computed, reason) in zip(todo, results, strict=True):
        entry = {**r, "status": "unavailable", "verified": False}
        if report is None:
            entry["reason"] = reason or "the component could not be fetched"
        elif computed != r["hash"]:
            entry.update(status="invalid", reason="the component at this URL is not the one this credential names "
                                                  "(its credential hash differs)")
        else:
            body = report.to_json()
            entry.update(status=body["status"], verified=body["verified"])
            if not entry["verified"]:
                failed = [c["message"] for c in body["checks"] if c["status"] in ("failed", "skipped")]
                if failed:
                    entry["reason"] = failed[0]
            if report.components:
                entry["components"] = report.components
        if entry.get("name") is None and document is not None:
            achievement = (document.get("credentialSubject") or {}).get("achievement") or {}
            name = achievement.get("name") if isinstance(achievement, dict) else None
            entry["name"] = name if isinstance(name, str) else None
        out.append(entry)
    order = {r["hash"]: i for i, r in enumerate(refs)}
    return sorted(out, key=lambda e: order.get(e["hash"], 0))

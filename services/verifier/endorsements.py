"""The endorsements shown with a credential (docs/endorsements.md), each checked like any credential.

Our issuer service lists the endorsements of an achievement together with those of its issuer
(``GET /public/achievements/{id}/endorsements``; an issuer's own at ``GET /issuers/{slug}/endorsements``):
URLs only, a pointer, nothing taken on its word. Each endorsement credential is then fetched and
verified with the same checks as the credential itself (signature, issuer on chain, anchor,
revocation, expiry), and counts as ``verified`` only if, besides, it is an
``EndorsementCredential`` whose subject is this credential's achievement (or its issuer) and
whose endorser is another organisation than the credential's issuer.

The whole list is worked out at most once per ``ttl`` seconds per achievement (concurrent
requests share one computation), and the checker starts it alongside the credential's own
checks, so a pasted credential costs no extra round trip in series.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from services.core.credential import endorsement_of, is_endorsement, issuer_id
from services.verifier.lru import LRU

MAX_ENDORSEMENTS = 20
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

# (report, document) of one of our credentials by id, or (None, None): the checker's verify_credential_id.
VerifyById = Callable[[str], Awaitable[tuple[Any, dict | None]]]


class Unavailable(Exception):
    """The list of endorsements could not be read right now."""


def _achievement_id(credential: dict) -> str | None:
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    found = achievement.get("id") if isinstance(achievement, dict) else None
    return found if isinstance(found, str) else None


class Endorsements:
    def __init__(self, http: httpx.AsyncClient | None, issuer_url: str | None, public_base_url: str,
                 own_did_prefix: str | None, ttl: float = 2.0) -> None:
        self.http = http
        self.issuer_url = issuer_url.rstrip("/") if issuer_url else None
        self.public_base_url = public_base_url.rstrip("/")
        self.own_did_prefix = own_did_prefix
        self.ttl = ttl
        self._done: LRU = LRU(5_000)  # key -> (expires, entries)
        self._running: dict[tuple, asyncio.Task] = {}

    def listing(self, credential: Any) -> str | None:
        """Where our issuer lists this credential's endorsements; None for one that can have none here
        (another platform's, a generic VC, an endorsement itself)."""
        if self.http is None or self.issuer_url is None or not isinstance(credential, dict) \
                or is_endorsement(credential):
            return None
        did = issuer_id(credential)
        if not did or not self.own_did_prefix or not did.startswith(self.own_did_prefix):
            return None
        achievement = _achievement_id(credential)
        prefix = self.issuer_url + "/public/achievements/"
        if achievement and achievement.startswith(prefix):
            ach_id = achievement[len(prefix):]
            if 1 <= len(ach_id) <= 64 and set(ach_id) <= _ID_CHARS:
                return f"{prefix}{ach_id}/endorsements"
        slug = did[len(self.own_did_prefix):]
        return f"{self.issuer_url}/issuers/{quote(slug, safe='')}/endorsements" if slug else None

    async def for_credential(self, credential: Any, verify: VerifyById) -> tuple[list[dict] | None, str | None]:
        """(entries, None), (None, None) when the credential can have none here, or ([], why) when the
        list could not be read (the credential's own verdict does not depend on it)."""
        url = self.listing(credential)
        if url is None:
            return None, None
        key = (url, _achievement_id(credential), issuer_id(credential))
        done = self._done.get(key)
        if done is not None and done[0] > time.monotonic():
            return done[1], None
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._work_out(url, key[1], key[2], verify))
            self._running[key] = task
            task.add_done_callback(lambda _t, k=key: self._running.pop(k, None))
        try:
            entries = await asyncio.shield(task)
        except Unavailable as exc:
            return [], str(exc)
        self._done.put(key, (time.monotonic() + self.ttl, entries))
        return entries, None

    async def _work_out(self, url: str, achievement: str | None, issuer_did: str | None,
                        verify: VerifyById) -> list[dict]:
        try:
            r = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the issuer's list of endorsements could not be read ({type(exc).__name__})") from None
        if r.status_code == 404:
            return []
        if r.status_code != 200:
            raise Unavailable(f"the issuer's list of endorsements answered {r.status_code}")
        try:
            items = r.json().get("items")
        except (ValueError, AttributeError):
            raise Unavailable("the issuer's list of endorsements is not JSON") from None
        urls = [i["url"] for i in items if isinstance(i, dict) and isinstance(i.get("url"), str)] \
            if isinstance(items, list) else []
        urls = list(dict.fromkeys(urls))[:MAX_ENDORSEMENTS]
        return list(await asyncio.gather(*(self._one(u, achievement, issuer_did, verify) for u in urls)))

    async def _one(self, url: str, achievement: str | None, issuer_did: str | None, verify: VerifyById) -> dict:
        entry: dict = {"endorser": None, "endorserId": None, "comment": None, "url": url, "about": None,
                       "verified": False, "status": "unavailable"}
        own = self.public_base_url + "/c/"
        credential_id = url[len(own):] if url.startswith(own) else ""
        if not (8 <= len(credential_id) <= 64 and set(credential_id) <= _ID_CHARS):
            entry.update(status="invalid", reason="not an endorsement of this platform")
            return entry
        try:
            report, document = await verify(credential_id)
        except Exception as exc:  # fail closed: an endorsement that cannot be checked is not counted
            entry["reason"] = f"the endorsement could not be checked: {str(exc) or type(exc).__name__}"
            return entry
        if report is None or document is None:
            entry.update(status="invalid", reason="there is no endorsement at this address")
            return entry
        body = report.to_json()
        entry["status"] = body["status"]
        issuer = document.get("issuer")
        name = issuer.get("name") if isinstance(issuer, dict) else None
        entry["endorser"] = name[:300] if isinstance(name, str) else None
        entry["endorserId"] = issuer_id(document)
        said = endorsement_of(document)
        if said is None:
            entry.update(status="invalid", reason="this is not an endorsement credential")
            return entry
        entry["comment"] = said["comment"][:2000] if said["comment"] else None
        if achievement is not None and said["about"] == achievement:
            entry["about"] = "achievement"
        elif issuer_did is not None and said["about"] == issuer_did:
            entry["about"] = "issuer"
        else:
            entry.update(status="invalid", reason="this endorsement is about something else than this credential")
            return entry
        if entry["endorserId"] == issuer_did:
            entry.update(status="invalid", reason="an issuer cannot endorse its own achievements")
            return entry
        entry["verified"] = bool(body["verified"])
        if not entry["verified"]:
            failed = [c["message"] for c in body["checks"] if c["status"] in ("failed", "skipped", "pending")]
            if failed:
                entry["reason"] = failed[0]
        return entry

"""A learner's profile on the verifier (docs/verifier.md, "Learner profiles"): ``/p/{id}``, its JSON, its embed.

The issuer's listing is read on every request (never cached), so a withdrawn profile is 404 at
once; every credential it names is then checked here, by id, with the checker's short report
cache like any credential page.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from services.core.errors import NotFound, UpstreamUnavailable
from services.verifier.endpoints import CheckerDep, SettingsDep, limit, links_for, own_id, page, wants_json
from services.verifier.pages import oembed_link
from services.verifier.profile_view import credential_summary, page_view, profile_json
from services.verifier.settings import VerifierSettings

router = APIRouter()
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
NO_STORE = {"Cache-Control": "no-store", "Vary": "Accept"}  # a withdrawal must not linger in any cache
CONCURRENT_CHECKS = 8


def check_profile_id(profile_id: str) -> str:
    if not 16 <= len(profile_id) <= 64 or not set(profile_id) <= _ID_CHARS:
        raise NotFound("there is no profile at this address")
    return profile_id


def profile_url(settings: VerifierSettings, profile_id: str) -> str:
    return f"{settings.public_base_url}/p/{profile_id}"


def own_profile_id(settings: VerifierSettings, url: str) -> str | None:
    """The profile id when ``url`` is one of our profile URLs (``/p/{id}`` and below)."""
    base = settings.public_base_url + "/p/"
    if not url.startswith(base):
        return None
    rest = url[len(base):].split("?", 1)[0].split("#", 1)[0].split("/", 1)[0]
    return rest if 16 <= len(rest) <= 64 and set(rest) <= _ID_CHARS else None


async def load(checker, settings: VerifierSettings, profile_id: str) -> dict:
    """The profile's JSON (``profile_view.profile_json``); NotFound when unknown or withdrawn."""
    listing = await checker.fetch_profile(check_profile_id(profile_id))
    if listing is None:
        raise NotFound("there is no profile at this address")
    listed = []
    for item in (listing.get("credentials") or [])[:200]:
        url = item.get("url") if isinstance(item, dict) else None
        credential_id = own_id(settings, url) if isinstance(url, str) else None
        if credential_id:  # only our own credential pages, whatever a listing says
            listed.append((settings.public_base_url + "/c/" + credential_id, credential_id, bool(item.get("pathway"))))
    gate = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def summary(url: str, credential_id: str, pathway: bool) -> dict | None:
        async with gate:
            try:
                report, credential = await checker.verify_credential_id(credential_id)
            except UpstreamUnavailable:
                report = credential = None
            else:
                if report is None:
                    return None  # gone from the issuer since the listing was read
        return credential_summary(url, credential_id, report, credential, links_for(settings, credential_id),
                                  pathway=pathway)

    summaries = [s for s in await asyncio.gather(*(summary(*x) for x in listed)) if s is not None]
    return profile_json(profile_id, profile_url(settings, profile_id), listing, summaries,
                        datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))


@router.get("/p/{profile_id}", tags=["profile"], responses={200: {"content": {"text/html": {}}}})
async def profile_page(profile_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    """A learner's shared credentials, each with its verdict, grouped by pathway; JSON with ``Accept: application/json``."""
    limit(request)  # one request checks every listed credential: as costly as a burst of verifications
    profile = await load(checker, settings, profile_id)
    if wants_json(request):
        return JSONResponse(profile, headers=NO_STORE)
    return page(request, "profile.html", {"p": page_view(profile),
                                          "oembed_url": oembed_link(settings.public_base_url, profile["url"])},
                headers=NO_STORE)


@router.get("/p/{profile_id}/embed", tags=["profile"], response_class=HTMLResponse)
async def profile_embed(profile_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    """A card of all the profile's badges for an iframe (framable, like the credential's embed)."""
    limit(request)
    profile = await load(checker, settings, profile_id)
    return page(request, "profile_embed.html", {"p": page_view(profile)}, headers={**NO_STORE, "X-Embeddable": "1"})

"""``GET /oembed?url=…`` (oEmbed 1.0, ``rich``) for our credential URLs and learner profile URLs; 404 for any other."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.core.errors import AppError, NotFound
from services.verifier import profile_view
from services.verifier.endpoints import CheckerDep, SettingsDep, links_for, own_id, page_url, resolve
from services.verifier.pages import EMBED_SIZE, view
from services.verifier.profiles import NO_STORE, load, own_profile_id

router = APIRouter()


class NotImplementedFormat(AppError):
    status_code = 501
    code = "not_implemented"


@router.get("/oembed", tags=["embed"])
async def oembed(settings: SettingsDep, checker: CheckerDep,
                 url: Annotated[str, Query(max_length=2048, description="a credential or profile URL of this verifier")],
                 format: str = "json",
                 maxwidth: Annotated[int | None, Query(ge=1, le=10_000)] = None,
                 maxheight: Annotated[int | None, Query(ge=1, le=10_000)] = None) -> JSONResponse:
    """oEmbed 1.0 (``rich``) for one of our credential or profile URLs; 404 for any other URL."""
    if format != "json":
        raise NotImplementedFormat("only format=json is supported")
    profile_id = own_profile_id(settings, url)
    if profile_id:
        profile = await load(checker, settings, profile_id)
        # Not cacheable: a withdrawn profile's oEmbed must be 404 at once, like the page.
        return JSONResponse(profile_view.oembed(profile, settings.public_base_url, maxwidth, maxheight),
                            headers=NO_STORE)
    credential_id = own_id(settings, url)
    if not credential_id:
        raise NotFound("not a credential or profile URL of this verifier")
    report, credential = await resolve(checker, credential_id)
    width, height = min(maxwidth or EMBED_SIZE[0], EMBED_SIZE[0]), min(maxheight or EMBED_SIZE[1], EMBED_SIZE[1])
    v = view(report, credential, links_for(settings, credential_id))
    html = v["embed_snippet"].replace(f'width="{EMBED_SIZE[0]}"', f'width="{width}"') \
                             .replace(f'height="{EMBED_SIZE[1]}"', f'height="{height}"')
    return JSONResponse({
        "version": "1.0", "type": "rich", "provider_name": "microcred", "provider_url": settings.public_base_url,
        "title": v["name"], "author_name": v["issuer"]["name"], "width": width, "height": height, "html": html,
        "thumbnail_url": page_url(settings, credential_id) + "/badge.png", "thumbnail_width": 480,
        "thumbnail_height": 480, "cache_age": 60}, headers={"Cache-Control": "public, max-age=60"})

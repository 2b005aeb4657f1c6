"""The issuer's signed W3C Bitstring Status Lists (docs/status-lists.md): the newest version of each
(cached for the publishing interval, ETag = its hash), and every version ever published (immutable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response

from services.issuer.deps import SessionDep, SettingsDep
from services.issuer import statuslists

public = APIRouter()


StatusListSlug = Annotated[str, Path(max_length=64)]
StatusListPurpose = Annotated[str, Path(max_length=20)]
StatusListNumber = Annotated[str, Path(max_length=12)]


@public.get("/status-lists/{slug}/{purpose}/{number}", tags=["public"])
def status_list(slug: StatusListSlug, purpose: StatusListPurpose, number: StatusListNumber, session: SessionDep,
                settings: SettingsDep, accept: Annotated[str | None, Header()] = None,
                if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The newest signed version of a status list (a BitstringStatusListCredential)."""
    version = statuslists.served_version(session, slug, purpose, number)
    return _status_list_response(version, f"public, max-age={statuslists.max_age(settings)}", accept, if_none_match)


@public.get("/status-lists/{slug}/{purpose}/{number}/versions/{list_hash}", tags=["public"])
def status_list_version(slug: StatusListSlug, purpose: StatusListPurpose, number: StatusListNumber,
                        list_hash: Annotated[str, Path(max_length=66)], session: SessionDep,
                        accept: Annotated[str | None, Header()] = None,
                        if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One version of a status list, by its hash (the hash the chain records): it never changes."""
    version = statuslists.served_version(session, slug, purpose, number, list_hash)
    return _status_list_response(version, "public, max-age=31536000, immutable", accept, if_none_match)


def _status_list_response(version, cache_control: str, accept: str | None, if_none_match: str | None) -> Response:
    etag = f'"{version.hash}"'
    headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept"}
    if if_none_match is not None and _etag_matches(if_none_match, version.hash):
        return Response(status_code=304, headers=headers)
    return Response(version.document.encode(), media_type=_list_media_type(accept), headers=headers)


def _etag_matches(if_none_match: str, list_hash: str) -> bool:
    """RFC 9110 If-None-Match: ``*``, or any listed tag equal to ours (weak comparison)."""
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/").strip('"') == list_hash for t in tags)


def _list_media_type(accept: str | None) -> str:
    """``application/vc+ld+json``, unless the client asks for plain JSON only."""
    wanted = (accept or "").lower()
    if "application/json" in wanted and "ld+json" not in wanted:
        return "application/json"
    return statuslists.MEDIA_TYPE

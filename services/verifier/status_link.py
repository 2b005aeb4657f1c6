"""``GET /c/{id}/status``: where every credential's ``credentialStatus.id`` points.

A public JSON answer to "is this credential revoked, and since when", relayed from the
issuer's ``/public/credentials/{id}/status`` (the issuer service need not be public). The
verifier keeps nothing: every request asks the issuer, so a revocation shows at once here;
the caching headers let a client or CDN reuse an answer only briefly (a revocation is final,
so a revoked answer may be kept longer).

This is the credential's own status resource, not a status-list credential: it carries no
proof and defines no new type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.core.web import error_body

router = APIRouter()

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
NOT_REVOKED_MAX_AGE = 5  # seconds: a revocation shows within this long even through a cache
REVOKED_MAX_AGE = 3600  # a revocation is never undone
RETRY_AFTER = 5


def _json(body: dict, status: int, cache: str, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": cache, **headers})


def _not_found() -> JSONResponse:
    return _json(error_body("not_found", "there is no credential at this address"), 404,
                 f"public, max-age={NOT_REVOKED_MAX_AGE}")


def _unavailable(why: str) -> JSONResponse:
    return _json(error_body("issuer_unavailable", f"the issuer's status service did not answer ({why}); "
                                                  "nothing was decided, try again in a moment"),
                 503, "no-store", **{"Retry-After": str(RETRY_AFTER)})


@router.get("/c/{credential_id}/status", tags=["credential"])
async def credential_status(credential_id: str, request: Request) -> JSONResponse:
    """``{"id", "credential", "revoked", "revokedAt", "reason", "checkedAt"}`` — JSON whatever ``Accept`` says."""
    if not 8 <= len(credential_id) <= 64 or not set(credential_id) <= _ID_CHARS:
        return _not_found()
    settings = request.app.state.settings
    http: httpx.AsyncClient = request.app.state.http
    try:
        r = await http.get(f"{settings.issuer_url}/public/credentials/{quote(credential_id, safe='')}/status")
    except httpx.HTTPError as exc:
        return _unavailable(type(exc).__name__)
    if r.status_code == 404:
        return _not_found()
    if r.status_code != 200:
        return _unavailable(f"HTTP {r.status_code}")
    try:
        status = r.json()
        revoked = status["revoked"]
        if not isinstance(revoked, bool):
            raise TypeError("revoked is not a boolean")
    except (ValueError, KeyError, TypeError):
        return _unavailable("an answer that is not a status")
    page = f"{settings.public_base_url}/c/{credential_id}"
    body = {
        "id": f"{page}/status",
        "credential": page,
        "revoked": revoked,
        "revokedAt": status.get("revokedAt") if revoked else None,
        "reason": status.get("reason") if revoked else None,
        "checkedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    max_age = REVOKED_MAX_AGE if revoked else NOT_REVOKED_MAX_AGE
    return _json(body, 200, f"public, max-age={max_age}")

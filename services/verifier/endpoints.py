"""The verifier's routes (docs/verifier.md): the public page, the report JSON, embeds, the verify API.

Thin: the checker (services.verifier.checker) gathers and decides; pages.py turns a report
into what the templates show; fetch.py, baking.py and badge.py do the rest.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import segno
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from services.core import safejson
from services.core.errors import InvalidInput, NotFound, PayloadTooLarge, RateLimited
from services.core.verification import Report
from services.core import baking
from services.verifier import badge
from services.verifier.fetch import FetchRefused, TrustedRoute, fetch_json
from services.verifier.pages import Links, oembed_link, view
from services.verifier.settings import VerifierSettings

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_UPLOAD = 512 * 1024
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_ID = r"/[A-Za-z0-9_-]{8,64}"
NO_CACHE = {"Cache-Control": "no-cache"}


class TooManyRequests(RateLimited):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


# Async on purpose: FastAPI runs a plain ``def`` dependency in its threadpool, two thread hops
# per request to read an attribute (docs/verifier.md, "Where a cold verification's time goes").
async def get_checker(request: Request) -> Any:
    return request.app.state.checker


async def get_settings(request: Request) -> VerifierSettings:
    return request.app.state.settings


async def get_images(request: Request) -> badge.ImageSource:
    return request.app.state.images


CheckerDep = Annotated[Any, Depends(get_checker)]  # services.verifier.checker.Checker
SettingsDep = Annotated[VerifierSettings, Depends(get_settings)]
ImagesDep = Annotated[badge.ImageSource, Depends(get_images)]


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, max_length=2048, description="a credential's URL (fetched under hostile-URL rules)")
    credential: dict[str, Any] | None = Field(None, description="the credential document itself")


# -- helpers ---------------------------------------------------------------------------------
def report_response(body: dict, headers: dict) -> Response:
    """A report as JSON, serialised by orjson (a few times faster than the stdlib encoder JSONResponse uses)."""
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def wants_json(request: Request) -> bool:
    """True when the client asks for JSON before HTML (``Accept``)."""
    accept = request.headers.get("accept", "")
    first = accept.split(",")[0]
    return ("application/json" in accept or "+json" in accept) and "text/html" not in first


def check_id(credential_id: str) -> str:
    if not 8 <= len(credential_id) <= 64 or not set(credential_id) <= _ID_CHARS:
        raise NotFound("there is no credential at this address")
    return credential_id


def page_url(settings: VerifierSettings, credential_id: str) -> str:
    return f"{settings.public_base_url}/c/{credential_id}"


def own_id(settings: VerifierSettings, url: str) -> str | None:
    """The credential id when ``url`` is one of our own credential URLs (``/c/{id}`` and below)."""
    base = settings.public_base_url + "/c/"
    if not url.startswith(base):
        return None
    rest = url[len(base):].split("?", 1)[0].split("#", 1)[0].split("/", 1)[0]
    return rest if rest and 8 <= len(rest) <= 64 and set(rest) <= _ID_CHARS else None


def trusted_hosts(settings: VerifierSettings) -> set[str]:
    """The operator's ``MICROCRED_TRUSTED_HOSTS``: hosts a pasted URL may reach on any address."""
    return {h.strip().lower().rstrip(".") for h in settings.trusted_hosts.split(",") if h.strip()}


def trusted_routes(settings: VerifierSettings) -> tuple[TrustedRoute, ...]:
    """Our own services, trusted only where they serve credentials — never another port or path.

    The verifier's public origin: ``/c/{id}`` and ``/c/{id}/credential.json``; the issuer's:
    ``/public/credentials/{id}``. A pasted URL to the issuer's API, the registry, the chain
    node or any other port of our hosts is then checked like anyone's (and refused when private).
    """
    routes = (TrustedRoute.under(settings.public_base_url, "/c" + _ID, "/c" + _ID + r"/credential\.json"),
              TrustedRoute.under(settings.issuer_url, "/public/credentials" + _ID))
    return tuple(r for r in routes if r is not None)


def links_for(settings: VerifierSettings, credential_id: str) -> Links:
    return Links(page_url(settings, credential_id), credential_id, settings.issuer_url + "/public/images/")


async def resolve(checker: Any, credential_id: str) -> tuple[Report, dict]:
    report, credential = await checker.verify_credential_id(check_id(credential_id))
    if report is None or credential is None:
        raise NotFound("there is no credential at this address")
    return report, credential


def _looks_like_report(document: dict) -> bool:
    return isinstance(document.get("checks"), list) and isinstance(document.get("credential"), dict)


async def verify_url(request: Request, checker: Any, settings: VerifierSettings, url: str) -> tuple[Report, dict]:
    """Verify what a pasted URL points to: ours by id, anyone else's fetched as hostile."""
    url = url.strip()
    own = own_id(settings, url)
    if own:
        return await resolve(checker, own)
    fetch = dict(trusted_hosts=trusted_hosts(settings), trusted_routes=trusted_routes(settings),
                 max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout)
    try:
        document = await fetch_json(request.app.state.http, url, **fetch)
        if _looks_like_report(document) and "/c/" in urlsplit(url).path:
            # Another microcred deployment's page answers JSON with its report: take the file itself.
            document = await fetch_json(request.app.state.http, url.split("?", 1)[0].split("#", 1)[0].rstrip("/")
                                        + "/credential.json", **fetch)
    except FetchRefused as exc:
        raise InvalidInput(str(exc), code="url_refused") from None
    if _looks_like_report(document):
        raise InvalidInput("that URL returned a verification report, not a credential", code="url_refused")
    return await checker.verify_document(document), document


def limit(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    limiter = request.app.state.rate_limiter
    if not limiter.take(client):
        raise TooManyRequests("too many verification requests; try again shortly", limiter.retry_after(client))


def page(request: Request, name: str, context: dict, status_code: int = 200, headers: dict | None = None):
    return templates.TemplateResponse(request, name, context, status_code=status_code,
                                      headers={**NO_CACHE, **(headers or {})})


# -- machine routes ----------------------------------------------------------------------------
@router.post("/api/v1/verify", tags=["verify"])
async def verify(body: VerifyRequest, request: Request) -> Response:
    """Verify a credential by its URL or as a document; returns the report (docs/verifier.md).

    A URL is fetched under the hostile-URL rules (http(s) only, public addresses unless
    trusted, redirects re-checked, size and time limits); one of our own credential URLs is
    resolved directly. Rate limited per client (429 with ``Retry-After``).
    """
    limit(request)
    if (body.url is None) == (body.credential is None):
        raise InvalidInput("give exactly one of 'url' or 'credential'")
    # The app's state directly, not two dependencies: this is the hot route, and FastAPI's
    # dependency solving costs more than the lookups (docs/verifier.md, "Where a cold
    # verification's time goes").
    checker = request.app.state.checker
    if body.credential is not None:
        report = await checker.verify_document(body.credential)
    else:
        report, _ = await verify_url(request, checker, request.app.state.settings, body.url or "")
    return report_response(report.to_json(), {"Cache-Control": "no-store"})


@router.get("/api/v1/health", tags=["ops"])
async def health() -> dict:
    return {"status": "ok"}


# -- the credential's own routes -------------------------------------------------------------------
@router.get("/c/{credential_id}", tags=["credential"], responses={200: {"content": {"text/html": {}}}})
async def credential_page(credential_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    """The page people open; the report (docs/verifier.md) when the request asks for ``application/json``."""
    report, credential = await resolve(checker, credential_id)
    if wants_json(request):
        return report_response(report.to_json(), {**NO_CACHE, "Vary": "Accept"})
    url = page_url(settings, credential_id)
    return page(request, "page.html", {"v": view(report, credential, links_for(settings, credential_id)),
                                       "qr_svg": qr_svg(url), "oembed_url": oembed_link(settings.public_base_url, url)},
                headers={"Vary": "Accept"})


@router.get("/c/{credential_id}/credential.json", tags=["credential"])
async def credential_file(credential_id: str, checker: CheckerDep) -> Response:
    """The credential, with its anchor proof once anchored."""
    credential = await checker.fetch_own_credential(check_id(credential_id))
    if credential is None:
        raise NotFound("there is no credential at this address")
    return Response(orjson.dumps(credential, option=orjson.OPT_INDENT_2), media_type="application/ld+json",
                    headers={**NO_CACHE, "Content-Disposition": f'attachment; filename="credential-{credential_id}.json"',
                             "Access-Control-Allow-Origin": "*"})


@router.get("/c/{credential_id}/embed", tags=["embed"], response_class=HTMLResponse)
async def embed(credential_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    """A small card meant for an iframe: framable, like the profile's embed (no other route may be framed)."""
    report, credential = await resolve(checker, credential_id)
    # X-Embeddable: the security middleware lets only this response be framed (and strips the header).
    return page(request, "embed.html", {"v": view(report, credential, links_for(settings, credential_id))},
                headers={"X-Embeddable": "1"})


@router.get("/c/{credential_id}/badge.svg", tags=["embed"], response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
async def badge_svg(credential_id: str, checker: CheckerDep, images: ImagesDep) -> Response:
    """The badge image: the achievement's own image when it has one, else a generated badge."""
    report, credential = await resolve(checker, credential_id)
    v_name, v_issuer, source = _badge_facts(report, credential)
    own = await images.get(source)
    if own is not None:
        svg = badge.image_svg(v_name, own[0], own[1])
    elif isinstance(source, str) and source.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")):
        svg = badge.image_svg_uri(v_name, source)
    else:
        svg = badge.generated_svg(v_name, v_issuer)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=300"})


@router.get("/c/{credential_id}/badge.png", tags=["embed"], response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def badge_png(credential_id: str, checker: CheckerDep, images: ImagesDep) -> Response:
    """The badge with the credential baked in (OB 3.0: ``iTXt`` chunk, keyword ``openbadgecredential``)."""
    report, credential = await resolve(checker, credential_id)
    v_name, v_issuer, source = _badge_facts(report, credential)
    own = await images.get(source)
    baked = None
    if own is not None and own[1] == "image/png":
        try:
            baked = baking.bake(own[0], credential)
        except baking.BakingError:
            baked = None
    if baked is None:
        baked = baking.bake(badge.generated_png(v_name, v_issuer), credential)
    return Response(baked, media_type="image/png",
                    headers={**NO_CACHE, "Content-Disposition": f'inline; filename="badge-{credential_id}.png"'})


@router.get("/c/{credential_id}/logo", tags=["embed"], response_class=Response, include_in_schema=False)
async def issuer_logo(credential_id: str, checker: CheckerDep, images: ImagesDep) -> Response:
    """The issuer's logo from our issuer service (which need not be reachable from the internet)."""
    _, credential = await resolve(checker, credential_id)
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), dict) else {}
    found = await images.get(badge.image_url(issuer.get("image")))
    if found is None:
        raise NotFound("this issuer has no logo")
    data, media_type = found
    if media_type == "image/svg+xml":  # served inside an SVG of ours: an image, never a document
        return Response(badge.image_svg("logo", data, media_type), media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=3600"})
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def _badge_facts(report: Report, credential: dict) -> tuple[str, str, str | None]:
    subject = credential.get("credentialSubject") if isinstance(credential.get("credentialSubject"), dict) else {}
    achievement = subject.get("achievement") if isinstance(subject.get("achievement"), dict) else {}
    issuer = credential.get("issuer") if isinstance(credential.get("issuer"), dict) else {}
    name = achievement.get("name") if isinstance(achievement.get("name"), str) else report.credential.get("name")
    issuer_name = issuer.get("name") if isinstance(issuer.get("name"), str) else report.credential.get("issuer")
    return (name or "Credential")[:300], (issuer_name or "")[:300], badge.image_url(achievement.get("image"))


# -- people's routes -------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request):
    return page(request, "index.html", {})


@router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_form(request: Request, checker: CheckerDep, settings: SettingsDep,
                      url: Annotated[str, Form(max_length=2048)] = "",
                      file: Annotated[UploadFile | None, File()] = None):
    """The form on ``/``: a pasted link or an uploaded file (JSON or baked PNG); no JavaScript needed."""
    try:
        limit(request)
        if url.strip():
            own = own_id(settings, url.strip())
            if own:
                return RedirectResponse(f"/c/{own}", status_code=303)
            report, credential = await verify_url(request, checker, settings, url)
        elif file is not None and file.filename:
            data = await file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise PayloadTooLarge(f"the file is larger than {MAX_UPLOAD // 1024} kB")
            credential = credential_from_upload(data)
            report = await checker.verify_document(credential)
        else:
            raise InvalidInput("paste a badge link or choose a file")
    except (InvalidInput, PayloadTooLarge, NotFound, RateLimited) as exc:
        return page(request, "index.html", {"error": exc.message, "url": url[:2048]}, status_code=exc.status_code,
                    headers=getattr(exc, "headers", None))
    shown = credential.get("id") if isinstance(credential.get("id"), str) else ""
    return page(request, "page.html", {"v": view(report, credential, Links(shown[:2048], None)), "qr_svg": None,
                                       "oembed_url": None, "uploaded": True})


def credential_from_upload(data: bytes) -> dict:
    """The credential in an uploaded file: a baked PNG or a JSON document (both through safejson)."""
    try:
        if data.startswith(baking.PNG_SIGNATURE):
            try:
                return safejson.check(baking.unbake(data))
            except baking.BakingError as exc:
                raise InvalidInput(str(exc)) from None
        credential = safejson.loads(data, max_bytes=MAX_UPLOAD)
    except safejson.UnsafeJSON as exc:
        if exc.not_json:
            raise InvalidInput("the file is neither a credential (JSON) nor a baked badge (PNG)") from None
        raise InvalidInput(f"the file cannot be checked: {exc.message}") from None
    if not isinstance(credential, dict):
        raise InvalidInput("the file does not hold a credential object")
    return credential


@lru_cache(maxsize=2048)
def qr_svg(url: str) -> str:
    """The page's URL as an inline SVG QR code (no script, no request)."""
    return segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#1d2433", title="QR code of this page",
                                                 svgclass="qr-code")

"""The verifier's routes (DESIGN §6): the public page, the report JSON, embeds, the verify API."""

from __future__ import annotations

import time
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import segno
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from services.core.errors import InvalidInput, NotFound, PayloadTooLarge, RateLimited
from services.core.verification import Report
from services.verifier import baking
from services.verifier.checker import Checker
from services.verifier.fetch import FetchRefused, fetch_json
from services.verifier.pages import view
from services.verifier.settings import VerifierSettings

router = APIRouter()
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
MAX_UPLOAD = 512 * 1024
_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def get_checker(request: Request) -> Checker:
    return request.app.state.checker


def get_settings(request: Request) -> VerifierSettings:
    return request.app.state.settings


CheckerDep = Annotated[Checker, Depends(get_checker)]
SettingsDep = Annotated[VerifierSettings, Depends(get_settings)]


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, max_length=2048)
    credential: dict[str, Any] | None = None


class RateLimiter:
    """A token bucket per client address, in process (each replica limits its own share)."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute // 4, 5))
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> bool:
        now = time.monotonic()
        tokens, last = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if len(self.buckets) > 50_000:
            self.buckets.clear()
        if tokens < 1:
            self.buckets[client] = (tokens, now)
            return False
        self.buckets[client] = (tokens - 1, now)
        return True


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept.split(",")[0]


def _check_id(credential_id: str) -> str:
    if not 8 <= len(credential_id) <= 64 or not set(credential_id) <= _ID_CHARS:
        raise NotFound("no such credential")
    return credential_id


def _page_url(settings: VerifierSettings, credential_id: str) -> str:
    return f"{settings.public_base_url}/c/{credential_id}"


async def _resolve(checker: Checker, credential_id: str) -> tuple[Report, dict]:
    report, credential = await checker.verify_credential_id(_check_id(credential_id))
    if report is None:
        raise NotFound("no such credential")
    return report, credential


def _own_id(settings: VerifierSettings, url: str) -> str | None:
    """The credential id when ``url`` is one of our own credential pages."""
    base = settings.public_base_url + "/c/"
    if url.startswith(base):
        rest = url[len(base):].split("?", 1)[0].split("#", 1)[0].split("/", 1)[0]
        return rest or None
    return None


def _trusted_hosts(settings: VerifierSettings) -> set[str]:
    hosts = {urlsplit(settings.public_base_url).hostname, urlsplit(settings.issuer_url).hostname}
    hosts |= {h.strip().lower() for h in settings.trusted_hosts.split(",") if h.strip()}
    return {h for h in hosts if h}


async def _verify_url(request: Request, checker: Checker, settings: VerifierSettings, url: str) -> tuple[Report, dict]:
    own = _own_id(settings, url)
    if own:
        return await _resolve(checker, own)
    try:
        credential = await fetch_json(request.app.state.http, url, trusted_hosts=_trusted_hosts(settings),
                                      max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout)
    except FetchRefused as exc:
        raise InvalidInput(str(exc), code="url_refused") from None
    # A page URL of another microcred deployment answers with its report; ask for the file.
    if "credential" in credential and "checks" in credential and isinstance(credential.get("credential"), dict):
        raise InvalidInput("that URL returned a verification report; give the credential's own URL or file",
                           code="url_refused")
    return await checker.verify_document(credential), credential


def _limit(request: Request) -> None:
    client = request.client.host if request.client else "unknown"
    if not request.app.state.rate_limiter.take(client):
        raise RateLimited("too many verification requests; try again in a minute")


# -- machine routes ------------------------------------------------------------------------
@router.post("/api/v1/verify", tags=["verify"])
async def verify(body: VerifyRequest, request: Request, checker: CheckerDep, settings: SettingsDep) -> dict:
    """Verify a credential by its URL or as a document; returns the report of DESIGN §5."""
    _limit(request)
    if (body.url is None) == (body.credential is None):
        raise InvalidInput("give exactly one of 'url' or 'credential'")
    if body.credential is not None:
        report = await checker.verify_document(body.credential)
    else:
        report, _ = await _verify_url(request, checker, settings, body.url)
    return report.to_json()


@router.get("/api/v1/health", tags=["ops"])
async def health() -> dict:
    return {"status": "ok"}


@router.get("/oembed", tags=["embed"])
async def oembed(settings: SettingsDep, checker: CheckerDep, url: str = Query(max_length=2048),
                 format: str = "json", maxwidth: int = 360, maxheight: int = 160) -> dict:
    """oEmbed 1.0 (rich) for one of our credential URLs."""
    if format != "json":
        raise InvalidInput("only format=json is supported", code="not_implemented")
    credential_id = _own_id(settings, url)
    if not credential_id:
        raise NotFound("not a credential URL of this verifier")
    report, _ = await _resolve(checker, credential_id)
    width, height = min(maxwidth, 360), min(maxheight, 160)
    src = escape(_page_url(settings, credential_id) + "/embed", quote=True)
    title = report.credential.get("name") or "Credential"
    return {"version": "1.0", "type": "rich", "provider_name": "microcred", "provider_url": settings.public_base_url,
            "title": title, "author_name": report.credential.get("issuer"), "width": width, "height": height,
            "thumbnail_url": _page_url(settings, credential_id) + "/badge.png", "thumbnail_width": 400,
            "thumbnail_height": 400,
            "html": f'<iframe src="{src}" width="{width}" height="{height}" style="border:0" '
                    f'title="{escape(title, quote=True)}"></iframe>'}


# -- the credential's own routes ---------------------------------------------------------------
@router.get("/c/{credential_id}", tags=["credential"])
async def credential_page(credential_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    """The page people open; the report as JSON when the request asks for it."""
    if _wants_json(request):
        report, _ = await _resolve(checker, credential_id)
        return JSONResponse(report.to_json(), headers={"Cache-Control": "no-cache"})
    try:
        report, credential = await _resolve(checker, credential_id)
    except NotFound:
        return templates.TemplateResponse(request, "error.html", {"title": "No such credential",
                                          "message": "There is no credential at this address. Check the link."},
                                          status_code=404)
    page_url = _page_url(settings, credential_id)
    return templates.TemplateResponse(request, "page.html", {
        "v": view(report, credential, page_url, credential_id), "qr_svg": _qr(page_url),
        "oembed_url": f"{settings.public_base_url}/oembed?url={page_url}&format=json"},
        headers={"Cache-Control": "no-cache"})


@router.get("/c/{credential_id}/credential.json", tags=["credential"])
async def credential_file(credential_id: str, checker: CheckerDep) -> Response:
    credential = await checker.fetch_own_credential(_check_id(credential_id))
    if credential is None:
        raise NotFound("no such credential")
    return Response(orjson.dumps(credential, option=orjson.OPT_INDENT_2), media_type="application/ld+json",
                    headers={"Content-Disposition": f'attachment; filename="credential-{credential_id}.json"',
                             "Cache-Control": "no-cache"})


@router.get("/c/{credential_id}/embed", tags=["embed"])
async def embed(credential_id: str, request: Request, checker: CheckerDep, settings: SettingsDep):
    report, credential = await _resolve(checker, credential_id)
    page_url = _page_url(settings, credential_id)
    response = templates.TemplateResponse(request, "embed.html", {"v": view(report, credential, page_url, credential_id)})
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Embeddable"] = "1"  # the security middleware lets only this route be framed
    return response


@router.get("/c/{credential_id}/badge.svg", tags=["embed"])
async def badge_svg(credential_id: str, checker: CheckerDep) -> Response:
    report, _ = await _resolve(checker, credential_id)
    return Response(_badge_svg(report.credential.get("name") or "Credential", report.credential.get("issuer") or ""),
                    media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=300"})


@router.get("/c/{credential_id}/badge.png", tags=["embed"])
async def badge_png(credential_id: str, checker: CheckerDep) -> Response:
    """The badge image with the credential baked in (OB 3.0 ``iTXt`` ``openbadgecredential``)."""
    report, credential = await _resolve(checker, credential_id)
    png = _base_png(report.credential.get("name") or "Credential", report.credential.get("issuer") or "")
    return Response(baking.bake(png, credential), media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="badge-{credential_id}.png"',
                             "Cache-Control": "no-cache"})


# -- people's routes -----------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request):
    return templates.TemplateResponse(request, "index.html", {})


@router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_form(request: Request, checker: CheckerDep, settings: SettingsDep,
                      url: Annotated[str, Form(max_length=2048)] = "",
                      file: Annotated[UploadFile | None, File()] = None):
    """The form on ``/``: a pasted link or an uploaded file (JSON or baked PNG), no JavaScript needed."""
    _limit(request)
    try:
        if url.strip():
            own = _own_id(settings, url.strip())
            if own:
                return RedirectResponse(f"/c/{own}", status_code=303)
            report, credential = await _verify_url(request, checker, settings, url.strip())
        elif file is not None and file.filename:
            data = await file.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise PayloadTooLarge(f"the file is larger than {MAX_UPLOAD // 1024} kB")
            credential = _credential_from_upload(data)
            report = await checker.verify_document(credential)
        else:
            raise InvalidInput("paste a badge link or choose a file")
    except (InvalidInput, PayloadTooLarge, NotFound) as exc:
        return templates.TemplateResponse(request, "index.html", {"error": exc.message}, status_code=exc.status_code)
    page_url = credential.get("id") if isinstance(credential.get("id"), str) else settings.public_base_url
    return templates.TemplateResponse(request, "page.html", {
        "v": view(report, credential, page_url, None), "qr_svg": None, "oembed_url": ""})


def _credential_from_upload(data: bytes) -> dict:
    if data.startswith(baking.PNG_SIGNATURE):
        try:
            return baking.unbake(data)
        except baking.BakingError as exc:
            raise InvalidInput(str(exc)) from None
    try:
        credential = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("the file is neither a credential (JSON) nor a baked badge (PNG)") from None
    if not isinstance(credential, dict):
        raise InvalidInput("the file does not hold a credential object")
    return credential


# -- images ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _qr(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=4, border=2, title="QR code of this page")


@lru_cache(maxsize=1024)
def _base_png(title: str, issuer: str) -> bytes:
    return baking.badge_png(title, issuer)


@lru_cache(maxsize=4096)
def _badge_svg(title: str, issuer: str) -> str:
    words, lines, line = title.split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 14:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines = (lines + [line])[:3]
    y0 = 100 - 12 * (len(lines) - 1)
    text = "".join(f'<text x="100" y="{y0 + 24 * i}" font-size="20" font-weight="700">{escape(t)}</text>'
                   for i, t in enumerate(lines))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" role="img" '
        f'aria-label="{escape(title, quote=True)}">'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2b6fd6"/>'
        '<stop offset="1" stop-color="#123a7a"/></linearGradient></defs>'
        '<circle cx="100" cy="100" r="96" fill="url(#g)"/>'
        '<circle cx="100" cy="100" r="84" fill="none" stroke="#fff" stroke-opacity=".5" stroke-width="2"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="system-ui,sans-serif">{text}'
        f'<text x="100" y="{y0 + 24 * len(lines) + 6}" font-size="11" fill-opacity=".85">{escape(issuer[:32])}</text>'
        '</g></svg>')

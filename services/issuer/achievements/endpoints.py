"""Routes of images and achievements, and their public reads (docs/issuer.md, "Routes", "Images")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from services.core.errors import PayloadTooLarge
from services.issuer.deps import Issuing, Reading, SessionDep, SettingsDep
from services.issuer.routing import ResourceId
from services.issuer.achievements import service
from services.issuer.achievements.schemas import AchievementCreate, AchievementRead, ImageRead, Level
from services.issuer.pathways.schemas import RequiresIn

api = APIRouter(prefix="/api/v1")
public = APIRouter()


@api.post("/images", status_code=201, response_model=ImageRead)
async def upload_image(principal: Issuing, session: SessionDep, settings: SettingsDep,
                       file: Annotated[UploadFile, File(description="a PNG or SVG image")]) -> ImageRead:
    data = await file.read(settings.image_max_bytes + 1)
    if len(data) > settings.image_max_bytes:
        raise PayloadTooLarge(f"the image is larger than {settings.image_max_bytes} bytes")
    return service.upload_image(session, settings, principal.issuer, data)


@api.post("/achievements", status_code=201, response_model=AchievementRead)
def create_achievement(body: AchievementCreate, principal: Issuing, session: SessionDep,
                       settings: SettingsDep) -> AchievementRead:
    return service.create_achievement(session, settings, principal.issuer, body)


@api.put("/achievements/{achievement_id}/requires", response_model=AchievementRead)
def replace_requires(achievement_id: ResourceId, body: RequiresIn, principal: Issuing, session: SessionDep,
                     settings: SettingsDep) -> AchievementRead:
    """Make an achievement a pathway, or change its requirement, while no credential of it exists."""
    return service.replace_requires(session, settings, principal.issuer, achievement_id, body)


@api.get("/achievements", response_model=list[AchievementRead])
def list_achievements(principal: Reading, session: SessionDep, settings: SettingsDep,
                      level: Annotated[Level | None, Query()] = None,
                      category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                      ) -> list[AchievementRead]:
    """The issuer's achievements; ``level`` and ``category`` filter them (the category ignoring case)."""
    return service.list_achievements(session, settings, principal.issuer, level, category)


@api.get("/achievements/{achievement_id}", response_model=AchievementRead)
def get_achievement(achievement_id: ResourceId, principal: Reading, session: SessionDep,
                    settings: SettingsDep) -> AchievementRead:
    return service.get_achievement(session, settings, principal.issuer, achievement_id)


@public.get("/public/achievements/{achievement_id}", tags=["public"])
def public_achievement(achievement_id: ResourceId, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    return JSONResponse(service.public_achievement(session, settings, achievement_id))


@public.get("/public/images/{name}", tags=["public"])
def public_image(name: Annotated[str, Path(max_length=80)], session: SessionDep) -> Response:
    image = service.public_image(session, name)
    return Response(image.data, media_type=image.media_type, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        # an SVG opened directly must not run anything or load anything
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    })

"""Routes of learners' profiles (docs/learners.md, "The profile"): the issuer's API (scope ``issue`` to
make or withdraw, ``read`` to look), and the public listing the verifier reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.issuer.deps import Issuing, Reading, SessionDep, SettingsDep
from services.issuer.profiles import service
from services.issuer.profiles.schemas import ProfileListing, ProfileRead
from services.issuer.routing import ResourceId

api = APIRouter(prefix="/api/v1")
public = APIRouter()
ProfileId = Annotated[str, Path(max_length=64)]  # an unknown id, any shape, is the same 404


@api.post("/learners/{learner_id}/profile", status_code=201, response_model=ProfileRead)
def create_profile(learner_id: ResourceId, principal: Issuing, session: SessionDep, settings: SettingsDep,
                   response: Response) -> ProfileRead:
    """The learner's public profile: 201 when made now, 200 with the same one when it exists."""
    profile, created = service.create(session, settings, principal.issuer, learner_id)
    if not created:
        response.status_code = 200
    return profile


@api.get("/learners/{learner_id}/profile", response_model=ProfileRead)
def get_profile(learner_id: ResourceId, principal: Reading, session: SessionDep, settings: SettingsDep) -> ProfileRead:
    return service.get(session, settings, principal.issuer, learner_id)


@api.delete("/learners/{learner_id}/profile", status_code=204, response_class=Response)
def withdraw_profile(learner_id: ResourceId, principal: Issuing, session: SessionDep) -> Response:
    """Withdraw it: the page, its JSON and its embed are 404 from the next request on."""
    service.withdraw(session, principal.issuer, learner_id)
    return Response(status_code=204)


@public.get("/public/profiles/{profile_id}", tags=["public"], response_model=ProfileListing)
def public_profile(profile_id: ProfileId, session: SessionDep, settings: SettingsDep,
                   response: Response) -> ProfileListing:
    """What the verifier's ``/p/{profile_id}`` is made of; never cached, so a withdrawal is 404 at once."""
    response.headers["Cache-Control"] = "no-store"
    return service.listing(session, settings, profile_id)

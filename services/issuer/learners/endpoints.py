"""Routes of learners (scope ``read``; docs/learners.md). Another issuer's learner is 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.issuer.credentials import service as credentials
from services.issuer.deps import Reading, SessionDep, SettingsDep
from services.issuer.learners import service
from services.issuer.learners.schemas import LearnerCredentials, LearnerList, LearnerRead
from services.issuer.routing import ResourceId
from services.issuer.schemas import Email

api = APIRouter(prefix="/api/v1")


@api.get("/learners", response_model=LearnerList)
def find_learners(principal: Reading, session: SessionDep, settings: SettingsDep,
                  email: Annotated[Email, Query(max_length=320)]) -> LearnerList:
    """The learner with this email, if any: the address is hashed with the issuer's secret, never stored."""
    return service.find_by_email(session, settings, principal.issuer, email)


@api.get("/learners/{learner_id}", response_model=LearnerRead)
def get_learner(learner_id: ResourceId, principal: Reading, session: SessionDep) -> LearnerRead:
    return service.get_learner(session, principal.issuer, learner_id)


@api.get("/learners/{learner_id}/credentials", response_model=LearnerCredentials)
def learner_credentials(learner_id: ResourceId, principal: Reading, session: SessionDep) -> LearnerCredentials:
    """Every credential this issuer gave the learner, oldest first, with where each stands."""
    return service.credentials(session, principal.issuer, learner_id,
                               lambda rows: credentials.read_many(session, principal.issuer, rows))

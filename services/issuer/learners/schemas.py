"""Bodies of the learner routes (docs/learners.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class LearnerRead(BaseModel):
    id: str
    did: str | None = None
    created_at: datetime


class LearnerList(BaseModel):
    items: list[LearnerRead]


class LearnerCredential(BaseModel):
    id: str
    url: str
    achievement_id: str | None  # None: a generic W3C VC issued through the VC-API
    status: Literal["pending", "anchored", "revoked", "suspended", "expired", "invalid"]
    pathway: bool = False  # awarded automatically as a pathway credential (docs/pathways.md)


class LearnerCredentials(BaseModel):
    items: list[LearnerCredential]

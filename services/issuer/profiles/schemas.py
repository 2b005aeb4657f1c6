"""Bodies of the profile routes (docs/learners.md, "The profile")."""

from __future__ import annotations

from pydantic import BaseModel


class ProfileRead(BaseModel):
    profile_id: str
    url: str  # the verifier's public page, {MICROCRED_PUBLIC_BASE_URL}/p/{profile_id}


class ListedCredential(BaseModel):
    id: str
    url: str
    achievement_id: str | None
    pathway: bool  # awarded automatically as a pathway credential


class PathwayComponent(BaseModel):
    achievement_id: str | None  # None: another issuer's achievement (external)
    name: str
    held: bool  # counts for the learner now, as the issuer sees it (docs/pathways.md, "What counts")
    credential_url: str | None
    external: bool = False


class PathwayProgress(BaseModel):
    achievement_id: str
    name: str
    required: int  # k
    of: int  # n
    held: int
    complete: bool  # awarded
    credential_url: str | None  # the awarded credential
    components: list[PathwayComponent]


class ProfileListing(BaseModel):
    """What the verifier reads to build the page: no verdicts (the verifier checks every credential itself)."""

    profile_id: str
    issuer: dict
    credentials: list[ListedCredential]
    pathways: list[PathwayProgress]

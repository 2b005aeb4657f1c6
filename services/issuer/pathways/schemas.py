"""Bodies of pathway requirements (docs/pathways.md): ``requires`` on ``POST /api/v1/achievements``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from services.issuer.schemas import HttpUrl, Strict

AchievementRef = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
Did = Annotated[str, StringConstraints(min_length=8, max_length=512, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%\-]+$")]


class ExternalComponent(Strict):
    """An achievement of another issuer: met by a credential of it, signed by ``issuer``, that verifies."""

    achievement: HttpUrl = Field(description="the achievement's id (its public URL) as its credentials carry it")
    issuer: Did = Field(description="the DID of the issuer whose credentials of it count")


Element = AchievementRef | ExternalComponent


class KOfN(Strict):
    k: int = Field(ge=1, le=64)
    of: list[Element] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _k_within(self) -> KOfN:
        if self.k > len(self.of):
            raise ValueError(f"k must be between 1 and the number of achievements ({len(self.of)})")
        return self


class RequiresIn(Strict):
    all_of: list[Element] | None = Field(None, min_length=1, max_length=64)
    k_of_n: KOfN | None = None

    @model_validator(mode="after")
    def _one(self) -> RequiresIn:
        if (self.all_of is None) == (self.k_of_n is None):
            raise ValueError("give exactly one of all_of or k_of_n")
        return self

    def elements(self) -> list[Element]:
        return list(self.all_of) if self.all_of is not None else list(self.k_of_n.of)

    def k(self) -> int:
        return len(self.all_of) if self.all_of is not None else self.k_of_n.k

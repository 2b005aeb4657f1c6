"""Bodies of the image and achievement routes (docs/issuer.md, "Routes", "Images")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.issuer.pathways.schemas import RequiresIn
from services.issuer.schemas import HttpUrl, Prose, Strict, Text, line_text


ACHIEVEMENT_TYPES = (
    "Achievement", "ApprenticeshipCertificate", "Assessment", "Assignment", "AssociateDegree", "Award", "Badge",
    "BachelorDegree", "Certificate", "CertificateOfCompletion", "Certification", "CommunityService", "Competency",
    "Course", "CoCurricular", "Degree", "Diploma", "DoctoralDegree", "Fieldwork", "GeneralEducationDevelopment",
    "JourneymanCertificate", "LearningProgram", "License", "Membership", "ProfessionalDoctorate",
    "QualityAssuranceCredential", "MasterCertificate", "MasterDegree", "MicroCredential", "ResearchDoctorate",
    "SecondarySchoolDiploma")
ALIGNMENT_TARGET_TYPES = ("ceasn:Competency", "ceterms:Credential", "CFItem", "CFRubric", "CFRubricCriterion",
                          "CFRubricCriterionLevel", "CTDL")
_EXT = re.compile(r"^ext:[A-Za-z0-9.\-_]+$")


def _achievement_type(value: str) -> str:
    if value not in ACHIEVEMENT_TYPES and not _EXT.match(value):
        raise ValueError("must be an OB 3.0 achievement type (e.g. MicroCredential, Badge) or 'ext:<Name>'")
    return value


def _target_type(value: str) -> str:
    if value not in ALIGNMENT_TARGET_TYPES and not _EXT.match(value):
        raise ValueError("must be an OB 3.0 alignment target type (e.g. ceasn:Competency) or 'ext:<Name>'")
    return value


class ImageRead(BaseModel):
    id: str = Field(description="SHA-256 of the stored (cleaned) image: reference it as an achievement's image")
    url: str
    media_type: str
    size: int


Level = Literal["foundational", "intermediate", "advanced"]  # credentials.document.LEVELS


class AlignmentIn(Strict):
    targetName: Text(500)
    targetUrl: HttpUrl
    targetFramework: Text(200) | None = None
    targetCode: Text(200) | None = None
    targetDescription: Prose(2000) | None = None
    targetType: Annotated[str, AfterValidator(_target_type)] | None = None


class CriteriaIn(Strict):
    narrative: Prose(10_000) | None = None
    id: HttpUrl | None = Field(None, description="a page describing the criteria")

    @model_validator(mode="after")
    def _some(self) -> CriteriaIn:
        if not self.narrative and not self.id:
            raise ValueError("criteria needs a narrative, an id (URL), or both")
        return self


class AchievementCreate(Strict):
    name: Text(200)
    description: Prose(10_000)
    criteria: CriteriaIn
    image: Annotated[str, StringConstraints(max_length=1024), AfterValidator(line_text)] | None = Field(
        None, description="the id (or url) of an image uploaded with POST /api/v1/images")
    image_caption: Text(500) | None = None
    achievement_type: Annotated[str, AfterValidator(_achievement_type)] | None = Field(None, alias="achievementType")
    alignment: list[AlignmentIn] = Field(default_factory=list, max_length=30)
    tags: list[Text(100)] = Field(default_factory=list, max_length=30)
    validity_days: int | None = Field(None, ge=1, le=36_500,
                                      description="shelf life: each credential's validUntil = validFrom + this")
    requires: RequiresIn | None = Field(None, description="makes this a pathway, awarded automatically when a "
                                                          "learner holds its components (docs/pathways.md)")
    level: Level | None = Field(None, description="the competency level (OB 3.0 resultDescription, "
                                                  "a RubricCriterionLevel)")
    category: Text(64) | None = Field(None, description="the skill category, e.g. soft, technical, industry "
                                                        "(OB 3.0 fieldOfStudy)")
    hours: float | None = Field(None, gt=0, le=100_000, description="the learning time in hours (kept by the "
                                                                     "issuer; OB 3.0 has no term for it)")
    credits: float | None = Field(None, gt=0, le=1_000, description="the credits it is worth (OB 3.0 "
                                                                    "creditsAvailable)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AchievementRead(BaseModel):
    id: str
    name: str
    description: str
    criteria: dict
    image: str | None
    achievement_type: str | None
    alignment: list[dict]
    tags: list[str]
    validity_days: int | None
    requires: dict | None = Field(None, description="a pathway's requirement: {k, of: [achievement id, or "
                                                    "'ext:<DID> <URL>' for another issuer's]}")
    pathway: bool = False
    level: Level | None = None
    category: str | None = None
    hours: float | None = None
    credits: float | None = None
    created_at: datetime
    achievement: dict = Field(description="the OB 3.0 Achievement as it goes into credentials")

"""Bodies of the batch routes (docs/issuer.md, "Bulk issuance"): a batch is refused whole if any row has unsafe text."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from services.core.safejson import BIDI_CONTROLS
from services.issuer.schemas import UNSAFE_TEXT, Did, Email, Strict, Text, When
from services.issuer.credentials.schemas import EvidenceIn


class BatchRow(Strict):
    """One recipient of a batch; checked row by row, so one bad row does not sink the others."""

    name: Text(200)
    email: Email
    did: Did | None = None
    evidence: list[EvidenceIn] | None = Field(None, max_length=10)


class BatchCreate(Strict):
    achievement_id: Text(40)
    recipients: list[Any] = Field(min_length=1)
    valid_from: When | None = None

    @field_validator("recipients")
    @classmethod
    def _no_unsafe_text(cls, recipients: list[Any]) -> list[Any]:
        """Rows are checked one by one later (a bad email is that row's error), but a row with text
        that must never be stored or signed (control or bidirectional characters) refuses the whole
        batch now, before a batch row — and the recipients' plain emails — is stored."""
        for index, raw in enumerate(recipients):
            if not _has_suspect_text(raw):
                continue  # the common case: no row holds a control, bidi or surrogate character
            try:
                BatchRow.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    if err["type"] == UNSAFE_TEXT:
                        raise PydanticCustomError(
                            UNSAFE_TEXT, "row {row}, {where}: {msg}; the batch is refused and nothing was stored",
                            {"row": index, "where": ".".join(str(p) for p in err["loc"]), "msg": err["msg"]}) from None
        return recipients


_SUSPECT = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029\ud800-\udfff]")  # a superset of both rules


def _has_suspect_text(value: Any) -> bool:
    """A cheap pre-check: any string in ``value`` with a character one of the text rules may refuse."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SUSPECT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RowError(BaseModel):
    row: int
    reason: str


class BatchCredential(BaseModel):
    row: int
    id: str
    url: str


class BatchRead(BaseModel):
    id: str
    state: Literal["queued", "running", "done"]
    achievement_id: str
    total: int
    processed: int
    issued: int
    failed: int
    signed: int = Field(description="credentials signed and stored so far (the same as issued)")
    anchored: int = Field(description="of those, how many carry their anchor proof (anchored on chain): the batch "
                                      "is wholly verifiable once anchored == issued and state is done")
    errors: list[RowError]
    credentials: list[BatchCredential] = Field(description="issued so far, by row (paged: offset, limit)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

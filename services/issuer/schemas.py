"""The types every request body of the issuer API is made of (docs/issuer.md); the bodies themselves
are in each domain's ``schemas`` module (``XCreate`` in, ``XRead`` out).

Hostile input is refused here, once, by the types every request model uses:

* ``Text(n)`` — one line of text people will read (names, reasons, tags): no control
  character at all, no bidirectional control, no lone surrogate (``safejson.unsafe_char``);
  ``Prose(n)`` — the same for multi-line text (descriptions, narratives): tab, newline and
  CRLF allowed. ``Email`` and ``HttpUrl`` follow the one-line rule too.
* ``When`` — a timezone-aware datetime from 1900-01-01T00:00:00Z up to, not including,
  9900-01-01T00:00:00Z: every date is then written with four digits, and a validity of up
  to 100 years (``validity_days`` ≤ 36,500) still ends before year 10000.

A batch with such text in any row is refused whole (422), before anything is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from services.core.safejson import describe_char, unsafe_char

_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9900, 1, 1, tzinfo=UTC)  # exclusive
UNSAFE_TEXT = "unsafe_text"  # the pydantic error type of a refused character


def _refuse_unsafe(value: str, multiline: bool) -> str:
    char = unsafe_char(value, multiline=multiline)
    if char is not None:
        raise PydanticCustomError(UNSAFE_TEXT, "must not contain {char}", {"char": describe_char(char)})
    return value


_ENDS = " \t\n\r"  # what may be trimmed off the ends before the check (pasted text often has it)


def line_text(value: Any) -> Any:
    return _refuse_unsafe(value.strip(_ENDS), multiline=False) if isinstance(value, str) else value


def _lines(value: Any) -> Any:
    return _refuse_unsafe(value.strip(_ENDS), multiline=True) if isinstance(value, str) else value


def _email(value: str) -> str:
    value = line_text(value).strip()
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


def _http_url(value: str) -> str:
    value = line_text(value).strip()
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.IGNORECASE):
        raise ValueError("must be an http(s) URL")
    return value


def _when(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 at +01:00 is before year 1 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PydanticCustomError("date_out_of_range",
                                  "must be between 1900-01-01T00:00:00Z and 9899-12-31T23:59:59Z")
    return value


def Text(max_length: int, min_length: int = 1, *, multiline: bool = False):  # noqa: N802 - a type factory
    """Text people read: one line unless ``multiline``; see the module's docstring for what is refused.

    Checked before whitespace is stripped (Python's strip would silently drop a trailing U+0085
    or U+2028), with only spaces, tabs and line breaks at the ends forgiven.
    """
    check = _lines if multiline else line_text
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
                     BeforeValidator(check)]  # the outermost: it sees the raw input, before the strip


def Prose(max_length: int, min_length: int = 1):  # noqa: N802 - a type factory
    """Multi-line text people read (descriptions, narratives): tab, newline and CRLF allowed."""
    return Text(max_length, min_length, multiline=True)


Email = Annotated[str, AfterValidator(_email)]
HttpUrl = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_http_url)]
When = Annotated[AwareDatetime, AfterValidator(_when)]  # every datetime a request carries
Slug = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])$")]
Scope = Literal["issue", "revoke", "read", "manage"]
# A learner's DID (W3C DID syntax: method, then the method-specific id; no spaces, no controls).
Did = Annotated[str, StringConstraints(max_length=512,
                                       pattern=r"^did:[a-z0-9]+:(?:[A-Za-z0-9._:-]|%[0-9A-Fa-f]{2})*"
                                               r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

"""The one parser for JSON that comes from outside: request bodies, uploads, fetched URLs, CLI files.

``loads`` parses with orjson (fast, and its own nesting limit of 1024 means its parser
never runs deep on the C stack) and then walks the result *iteratively* — no recursion —
refusing anything a later step could choke on:

* more than :data:`MAX_BYTES` bytes (callers pass their own, smaller limit);
* nesting deeper than :data:`MAX_DEPTH` containers (``{}`` is depth 1) — orjson.dumps
  gives up at 255 and the stdlib decoder recurses on the C stack;
* a number beyond ±:data:`MAX_SAFE_INTEGER` (2**53 − 1, the largest integer every JSON
  implementation, JavaScript included, reads exactly). This covers floats too, because
  orjson silently turns an integer literal beyond 64 bits (``10**30``) into a float;
* a lone (unpaired) UTF-16 surrogate in a string or key, such as ``"\\ud800"`` — it is not
  Unicode text and cannot be encoded as UTF-8. orjson already refuses one; the walk checks
  again, explicitly, for values parsed elsewhere (:func:`check`);
* more than :data:`MAX_VALUES` values in all (every scalar, array and object counts once).

Every refusal is an :class:`UnsafeJSON` with a plain message.

:func:`unsafe_char` is the rule for the *text* in such JSON that people will read (names,
descriptions): no control characters, no bidirectional controls, no lone surrogates.
This module does no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_SAFE_INTEGER = 2**53 - 1
MAX_VALUES = 200_000


class UnsafeJSON(ValueError):
    """The input is not JSON, or is JSON beyond what we accept; ``message`` says which, plainly.

    ``not_json`` is true when the input is not JSON at all (syntax, encoding), false when it is
    JSON beyond a limit — for callers whose message differs ("that is not JSON").
    """

    def __init__(self, message: str, *, not_json: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_json = not_json


def loads(data: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
          max_values: int = MAX_VALUES) -> Any:
    """Parse ``data`` (UTF-8 JSON) under every limit above; the value, or :class:`UnsafeJSON`."""
    if isinstance(data, str):
        _text(data)
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise UnsafeJSON(f"the JSON is larger than {max_bytes} bytes")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
        if "depth" in reason or "recursion" in reason.lower():
            raise UnsafeJSON(f"the JSON is nested deeper than {max_depth} levels") from None
        if "not valid UTF-8" in reason:  # orjson says "surrogates not allowed" for any bad UTF-8
            raise UnsafeJSON("the JSON is not valid UTF-8 text", not_json=True) from None
        if "surrogate" in reason:
            raise UnsafeJSON("the JSON holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text") from None
        raise UnsafeJSON(f"not valid JSON: {reason[:160]}", not_json=True) from None
    return check(value, max_depth=max_depth, max_values=max_values)


def check(value: Any, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """Refuse an already-parsed JSON value (e.g. orjson's, from a baked PNG) beyond the limits; return it."""
    _scalar(value)
    if type(value) is not dict and type(value) is not list:
        return value
    count = 1
    stack: list[tuple[dict | list, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeJSON(f"the JSON is nested deeper than {max_depth} levels")
        count += len(node)
        if count > max_values:
            raise UnsafeJSON(f"the JSON holds more than {max_values} values")
        if type(node) is dict:
            for key in node:
                if type(key) is not str:
                    raise UnsafeJSON("the JSON has an object key that is not a string")
                if not key.isascii():
                    _text(key)
            children = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is str:
                if not child.isascii():
                    _text(child)
            elif kind is int or kind is float:
                if not -MAX_SAFE_INTEGER <= child <= MAX_SAFE_INTEGER:  # NaN fails this too
                    raise _number()
            elif child is not None and kind is not bool:
                raise UnsafeJSON(f"not a JSON value: {kind.__name__}")
    return value


def _scalar(value: Any) -> None:
    kind = type(value)
    if kind is str:
        _text(value)
    elif kind is int or kind is float:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _number()
    elif value is not None and kind not in (bool, dict, list):
        raise UnsafeJSON(f"not a JSON value: {kind.__name__}")


def _text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJSON("the JSON holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text") from None


def _number() -> UnsafeJSON:
    return UnsafeJSON(f"the JSON holds a number beyond ±{MAX_SAFE_INTEGER} (2**53 - 1), which is not read exactly "
                      "everywhere")



# -- text shown to people ----------------------------------------------------------------------
# Bidirectional controls: they reorder what is displayed, so a name can read differently on a
# page from what was signed (U+202A-U+202E embeddings/overrides, U+2066-U+2069 isolates,
# U+200E/U+200F marks, U+061C the Arabic letter mark).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BAD_ANYWHERE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + BIDI_CONTROLS + "\ud800-\udfff"
# One line: no control character at all (tab and newline included), no line/paragraph separator.
_UNSAFE_LINE = re.compile(f"[{_BAD_ANYWHERE}\t\n\r\u2028\u2029]")
# Several lines: tab and newline allowed, carriage return only in CRLF.
_UNSAFE_MULTILINE = re.compile(f"[{_BAD_ANYWHERE}]|\r(?!\n)")


def unsafe_char(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` that must not be in text shown to people, or None.

    Refused: C0 and C1 control characters and DEL (tab, newline and CRLF allowed only when
    ``multiline``), the bidirectional controls above, and lone surrogates.
    """
    found = (_UNSAFE_MULTILINE if multiline else _UNSAFE_LINE).search(text)
    return found.group(0)[0] if found else None


def describe_char(char: str) -> str:
    """``U+202E (a bidirectional control)`` and the like, for error messages."""
    code = ord(char)
    if char in BIDI_CONTROLS:
        kind = "a bidirectional control, which makes text read differently from what it is"
    elif 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate, which is not Unicode text"
    elif char in "\u2028\u2029":
        kind = "a line separator"
    else:
        kind = "a control character"
    return f"U+{code:04X} ({kind})"

"""Baked badges (Open Badges 3.0 "Baking"): the credential inside a PNG, in an ``iTXt`` chunk; no I/O (the
verifier bakes and reads them, the issuer reads an external component from one).

Keyword ``openbadgecredential``, no compression, empty language tag and translated
keyword, the credential JSON as UTF-8 text. Written and read by hand per the PNG
specification (length, type, data, CRC-32 of type and data): four fields and a checksum,
simpler than a dependency. Reading accepts a compressed ``iTXt`` too, within a size limit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import orjson

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = b"openbadgecredential"
MAX_TEXT = 1024 * 1024  # a compressed chunk may not inflate past this


class BakingError(ValueError):
    """Not a PNG, a damaged one, or no credential in it; the message says which, in plain words."""


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def chunks(png: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(start, end, type, data)`` of every chunk up to ``IEND``, CRCs checked."""
    if not png.startswith(PNG_SIGNATURE):
        raise BakingError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(png):
            raise BakingError("the PNG is truncated")
        data = png[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", png[end - 4:end])
        if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
            raise BakingError(f"the PNG is damaged (bad checksum in a {kind.decode('latin-1')!r} chunk)")
        yield pos, end, kind, data
        pos = end
        if kind == b"IEND":
            return
    raise BakingError("the PNG is truncated")


def itxt(keyword: bytes, text: bytes) -> bytes:
    """An uncompressed ``iTXt`` chunk: keyword, NUL, flag 0, method 0, empty language, NUL, empty translation, NUL, text."""
    return chunk(b"iTXt", keyword + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text)


def bake(png: bytes, credential: dict) -> bytes:
    """``png`` with ``credential`` in it, placed before ``IEND`` (an earlier credential is replaced)."""
    baked = itxt(KEYWORD, orjson.dumps(credential))
    out = bytearray(PNG_SIGNATURE)
    for start, end, kind, data in chunks(png):
        if kind == b"iTXt" and data.startswith(KEYWORD + b"\x00"):
            continue
        if kind == b"IEND":
            out += baked
        out += png[start:end]
    return bytes(out)


def _itxt_text(data: bytes) -> bytes:
    rest = data[len(KEYWORD) + 1:]
    if len(rest) < 2:
        raise BakingError("the baked credential chunk is malformed")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) != 3:
        raise BakingError("the baked credential chunk is malformed")
    text = parts[2]
    if compressed:
        if method != 0:
            raise BakingError("the baked credential uses an unknown compression")
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(text, MAX_TEXT + 1)
        except zlib.error:
            raise BakingError("the baked credential is damaged") from None
        if len(text) > MAX_TEXT:
            raise BakingError("the baked credential is too large")
    return text


def unbake(png: bytes) -> dict:
    """The credential baked into ``png``."""
    for _start, _end, kind, data in chunks(png):
        if kind != b"iTXt" or not data.startswith(KEYWORD + b"\x00"):
            continue
        text = _itxt_text(data)
        try:
            credential = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BakingError("the baked credential is not JSON (a JWS-encoded credential is not supported)") from None
        if not isinstance(credential, dict):
            raise BakingError("the baked credential is not a JSON object")
        return credential
    raise BakingError("this PNG carries no Open Badges credential")

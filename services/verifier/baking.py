"""Baked badges (Open Badges 3.0 §5.3): the credential inside a PNG, in an ``iTXt`` chunk.

Keyword ``openbadgecredential``, no compression, empty language tag and translated
keyword, the credential JSON as UTF-8 text. Written and read by hand: the chunk format is
four fields and a CRC, simpler than a dependency.
"""

from __future__ import annotations

import io
import struct
import zlib

import orjson

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = b"openbadgecredential"


class BakingError(ValueError):
    """Not a PNG, or no credential in it; the message says which."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _chunks(png: bytes):
    if not png.startswith(PNG_SIGNATURE):
        raise BakingError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > len(png):
            raise BakingError("the PNG is truncated")
        yield pos, end, kind, png[pos + 8:pos + 8 + length]
        pos = end
        if kind == b"IEND":
            return
    raise BakingError("the PNG has no end")


def bake(png: bytes, credential: dict) -> bytes:
    """The PNG with the credential added (any earlier credential chunk replaced)."""
    text = orjson.dumps(credential)
    chunk = _chunk(b"iTXt", KEYWORD + b"\x00" + b"\x00\x00" + b"\x00" + b"\x00" + text)
    out = bytearray(PNG_SIGNATURE)
    for start, end, kind, data in _chunks(png):
        if kind == b"iTXt" and data.startswith(KEYWORD + b"\x00"):
            continue
        if kind == b"IEND":
            out += chunk
        out += png[start:end]
    return bytes(out)


def unbake(png: bytes) -> dict:
    """The credential baked into ``png``."""
    for _start, _end, kind, data in _chunks(png):
        if kind != b"iTXt" or not data.startswith(KEYWORD + b"\x00"):
            continue
        rest = data[len(KEYWORD) + 1:]
        compressed, _method = rest[0], rest[1]
        rest = rest[2:]
        _language, rest = rest.split(b"\x00", 1)
        _translated, text = rest.split(b"\x00", 1)
        if compressed:
            text = zlib.decompress(text)
        try:
            credential = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BakingError("the baked credential is not JSON") from None
        if not isinstance(credential, dict):
            raise BakingError("the baked credential is not a JSON object")
        return credential
    raise BakingError("this PNG carries no Open Badges credential")


def badge_png(title: str, subtitle: str, size: int = 400) -> bytes:
    """A plain round badge as PNG, to bake the credential into."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, size - 8, size - 8), fill=(31, 95, 191, 255), outline=(16, 52, 110, 255), width=10)
    draw.ellipse((40, 40, size - 40, size - 40), outline=(255, 255, 255, 160), width=3)
    font = ImageFont.load_default(size=34)
    small = ImageFont.load_default(size=20)
    words, lines, line = title.split(), [], ""
    for word in words:
        if line and draw.textlength(f"{line} {word}", font=font) > size - 110:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    y = size / 2 - 22 * len(lines[:3])
    for text in lines[:3]:
        draw.text((size / 2, y), text, font=font, fill="white", anchor="mm")
        y += 44
    draw.text((size / 2, y + 8), subtitle[:40], font=small, fill=(220, 230, 250, 255), anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()

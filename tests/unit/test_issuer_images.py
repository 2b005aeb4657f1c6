"""Uploaded images: PNG checked and stripped of metadata, SVG sanitised to an allowlist."""

from __future__ import annotations

import struct
import zlib

import pytest

from services.issuer.images import ImageError, clean_image

LIMITS = dict(max_bytes=256 * 1024, max_pixels=1024)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width=2, height=2, extra=(), data=None, ihdr=None) -> bytes:
    raw = data if data is not None else b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = ihdr or struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + b"".join(extra) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def test_a_valid_png_is_kept_and_its_text_chunks_dropped():
    original = png(extra=[_chunk(b"tEXt", b"Author\x00ada@example.org"), _chunk(b"pHYs", b"\x00" * 9)])
    clean = clean_image(original, **LIMITS)
    assert clean.media_type == "image/png" and clean.extension == "png"
    assert b"ada@example.org" not in clean.data and b"pHYs" in clean.data
    assert clean_image(clean.data, **LIMITS).data == clean.data  # stable


@pytest.mark.parametrize("bad,why", [
    (png()[:-6], "truncated"),
    (png().replace(b"IEND\xaeB`\x82", b"IEND\x00\x00\x00\x00"), "checksum"),
    (png() + b"<script>", "after its end"),
    (png(width=5000, height=1, data=b"\x00" + b"\x00" * 15000), "pixels"),
    (png(data=b"\x00" * 10), "dimensions"),
    (png(width=2, height=2, data=b"\x00" * 10_000_000), "larger than"),
    (png(ihdr=struct.pack(">IIBBBBB", 2, 2, 7, 2, 0, 0, 0)), "header"),
])
def test_broken_or_hostile_pngs_are_refused(bad, why):
    with pytest.raises(ImageError, match=why):
        clean_image(bad, **LIMITS)


def test_neither_png_nor_svg_is_refused():
    for data in (b"GIF89a....", b"\xff\xd8\xff\xe0JFIF", b"<html><svg></svg></html>", b""):
        with pytest.raises(ImageError):
            clean_image(data, **LIMITS)


def test_oversized_file_is_refused():
    with pytest.raises(ImageError, match="larger than"):
        clean_image(png() + b"\x00" * (300 * 1024), **LIMITS)


SVG = b"""<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"
     onload="alert(1)" viewBox="0 0 100 100">
  <script>alert(document.cookie)</script>
  <style>@import url(https://evil.example/x.css); .a { fill: red }</style>
  <style>.b { fill: url(#grad) }</style>
  <defs><linearGradient id="grad"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <circle cx="50" cy="50" r="40" fill="url(#grad)" onclick="steal()" style="fill: url(https://evil.example/t)"/>
  <a xlink:href="javascript:alert(1)"><rect width="10" height="10"/></a>
  <use xlink:href="#grad"/>
  <use href="https://evil.example/sprite.svg#x"/>
  <image href="https://evil.example/track.png" width="1" height="1"/>
  <image href="data:image/png;base64,iVBORw0KGgo=" width="1" height="1"/>
  <foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="https://evil.example"/></foreignObject>
  <text x="10" y="90" font-size="12">Critical Thinking</text>
</svg>"""


def test_svg_is_sanitised_to_an_allowlist():
    clean = clean_image(SVG, **LIMITS)
    out = clean.data.decode()
    assert clean.media_type == "image/svg+xml"
    for gone in ("script", "onload", "onclick", "evil.example", "javascript", "foreignObject", "iframe",
                 "@import", "<a "):
        assert gone not in out, gone
    for kept in ("<circle", 'fill="url(#grad)"', "Critical Thinking", "linearGradient", ".b { fill: url(#grad) }",
                 'href="#grad"', "data:image/png;base64"):
        assert kept in out, kept
    assert clean_image(clean.data, **LIMITS).data == clean.data  # sanitising is stable


@pytest.mark.parametrize("svg,why", [
    (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "boom">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
     "XML"),
    (b'<?xml version="1.0"?><!DOCTYPE svg SYSTEM "http://evil.example/x.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>',
     "XML"),
    (b'<svg><circle r="1"/></svg>', "namespace"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><circle', "XML"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="10"/>', "pixels"),
])
def test_hostile_or_broken_svgs_are_refused(svg, why):
    with pytest.raises(ImageError, match=why):
        clean_image(svg, **LIMITS)

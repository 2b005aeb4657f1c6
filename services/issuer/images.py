"""Achievement images and logos: PNG validated and stripped, SVG parsed safely and sanitised.

Pure functions over bytes. What comes out is safe to serve from our origin:

* **PNG**: the chunk structure is checked (signature, CRCs, IHDR first, IEND last,
  nothing after it, dimensions within limits), the image data must inflate to what
  the header promises (within a bound, so no decompression bomb), and the file is
  rebuilt from the rendering chunks only — text, EXIF, time and unknown chunks
  (which can carry personal data or payloads) are dropped.
* **SVG**: parsed with ``defusedxml`` (no DTDs, entities or external references), then
  rebuilt from an allowlist of SVG elements and presentation attributes. Scripts,
  event handlers, ``foreignObject``, external links and CSS that could fetch or run
  anything are removed; links may only point inside the document (``#id``), and
  embedded raster images only as ``data:image/png|jpeg`` URIs.
"""

from __future__ import annotations

import hashlib
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs",
            b"bKGD"}
# bits per pixel per colour type, and the bit depths each allows
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

SVG_ELEMENTS = {
    "svg", "g", "defs", "title", "desc", "symbol", "use", "path", "rect", "circle", "ellipse", "line", "polyline",
    "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop", "clipPath", "mask",
    "pattern", "marker", "image", "style", "filter", "feGaussianBlur", "feOffset", "feBlend", "feColorMatrix",
    "feComposite", "feFlood", "feMerge", "feMergeNode", "feDropShadow", "feMorphology", "switch",
}
SVG_ATTRIBUTES = {
    "id", "class", "style", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "d",
    "points", "width", "height", "viewBox", "preserveAspectRatio", "transform", "version", "baseProfile",
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "opacity", "color",
    "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "filter", "filterUnits",
    "primitiveUnits", "display", "visibility", "overflow", "font-family", "font-size", "font-weight",
    "font-style", "font-variant", "font-stretch", "letter-spacing", "word-spacing", "text-anchor",
    "text-decoration", "dominant-baseline", "alignment-baseline", "baseline-shift", "writing-mode",
    "dx", "dy", "rotate", "textLength", "lengthAdjust", "startOffset", "method", "spacing",
    "gradientUnits", "gradientTransform", "spreadMethod", "offset", "stop-color", "stop-opacity",
    "patternUnits", "patternContentUnits", "patternTransform", "markerWidth", "markerHeight", "markerUnits",
    "refX", "refY", "orient", "marker-start", "marker-mid", "marker-end", "in", "in2", "result", "stdDeviation",
    "mode", "operator", "k1", "k2", "k3", "k4", "values", "type", "flood-color", "flood-opacity", "radius",
    "vector-effect", "shape-rendering", "text-rendering", "image-rendering", "color-interpolation",
    "color-interpolation-filters", "paint-order", "mix-blend-mode", "isolation", "href", "space", "lang",
    "edgeMode", "requiredFeatures", "systemLanguage",
}
_CSS_DANGER = re.compile(r"@import|expression\s*\(|javascript:|vbscript:|behavior\s*:|-moz-binding|</|\\",
                         re.IGNORECASE)
_CSS_URL = re.compile(r"url\s*\(\s*['\"]?\s*([^)'\"\s]*)", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]+$")


class ImageError(ValueError):
    """Not an acceptable image; the message says why, in plain words."""


@dataclass(frozen=True)
class CleanImage:
    media_type: str  # image/png or image/svg+xml
    data: bytes
    sha256: str

    @property
    def extension(self) -> str:
        return "png" if self.media_type == "image/png" else "svg"


def clean_image(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Validate (PNG) or sanitise (SVG) ``data``; anything else raises :class:`ImageError`."""
    if not data:
        raise ImageError("the image is empty")
    if len(data) > max_bytes:
        raise ImageError(f"the image is larger than {max_bytes} bytes")
    if data.startswith(PNG_SIGNATURE):
        out, media_type = clean_png(data, max_pixels), "image/png"
    elif _looks_like_svg(data):
        out, media_type = sanitize_svg(data, max_pixels), "image/svg+xml"
    else:
        raise ImageError("the image must be a PNG or an SVG file")
    return CleanImage(media_type, out, hashlib.sha256(out).hexdigest())


# -- PNG ---------------------------------------------------------------------------------
def clean_png(data: bytes, max_pixels: int) -> bytes:
    pos, chunks = len(PNG_SIGNATURE), []
    while pos < len(data):
        if pos + 12 > len(data):
            raise ImageError("the PNG file is truncated")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if length > 2**31 - 1 or len(body) != length or pos + 12 + length > len(data):
            raise ImageError("the PNG file is truncated")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ImageError("the PNG file is corrupt (a chunk checksum does not match)")
        if not kind.isalpha():
            raise ImageError("the PNG file is corrupt (bad chunk name)")
        chunks.append((kind, body))
        pos += 12 + length
        if kind == b"IEND":
            break
    if pos != len(data):
        raise ImageError("the PNG file has data after its end")
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise ImageError("the PNG file does not start with a valid header")
    if chunks[-1][0] != b"IEND":
        raise ImageError("the PNG file is truncated (no end chunk)")
    width, height, depth, color, compression, filter_, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if not (1 <= width <= max_pixels and 1 <= height <= max_pixels):
        raise ImageError(f"the image must be between 1 and {max_pixels} pixels wide and high")
    if color not in _PNG_DEPTHS or depth not in _PNG_DEPTHS[color] or compression or filter_ or interlace > 1:
        raise ImageError("the PNG header is not valid")
    if color == 3 and not any(k == b"PLTE" for k, _ in chunks):
        raise ImageError("a palette PNG needs a palette")
    idat = b"".join(body for kind, body in chunks if kind == b"IDAT")
    if not idat:
        raise ImageError("the PNG file has no image data")
    row_bytes = (width * _PNG_CHANNELS[color] * depth + 7) // 8
    expected = height * (row_bytes + 1)
    inflated = _inflate_bounded(idat, expected + 1)
    if interlace == 0 and len(inflated) != expected:
        raise ImageError("the PNG image data does not match its dimensions")
    if interlace == 1 and not 0 < len(inflated) <= expected + 7 * height + 64:
        raise ImageError("the PNG image data does not match its dimensions")
    out = [PNG_SIGNATURE]
    for kind, body in chunks:
        if kind in PNG_KEEP:
            out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(out)


def _inflate_bounded(data: bytes, limit: int) -> bytes:
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, limit + 64 * 1024)
    except zlib.error:
        raise ImageError("the PNG image data is corrupt") from None
    if d.unconsumed_tail:
        raise ImageError("the PNG image data is larger than its dimensions allow")
    return out


# -- SVG ---------------------------------------------------------------------------------
def _looks_like_svg(data: bytes) -> bool:
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:65536].lower()


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def _css_safe(css: str) -> bool:
    if _CSS_DANGER.search(css):
        return False
    return all(target.startswith("#") for target in _CSS_URL.findall(css))


def _number(value: str | None) -> float | None:
    match = re.match(r"^\s*([0-9]*\.?[0-9]+)", value or "")
    return float(match.group(1)) if match else None


def sanitize_svg(data: bytes, max_pixels: int) -> bytes:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ET.ParseError, ValueError) as exc:
        raise ImageError(f"the SVG file is not acceptable XML: {type(exc).__name__}") from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise ImageError("the SVG file must have an <svg> root in the SVG namespace (xmlns=\"http://www.w3.org/2000/svg\")")
    for attr in ("width", "height"):
        size = _number(root.get(attr))
        if size is not None and size > max_pixels:
            raise ImageError(f"the image must be at most {max_pixels} pixels wide and high")
    _clean_element(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _clean_element(element: ET.Element) -> None:
    _, name = _local(element.tag)
    for key in list(element.attrib):
        ns, attr = _local(key)
        value = element.attrib[key]
        keep = (ns in (None, XLINK_NS, XML_NS) and attr in SVG_ATTRIBUTES and not attr.lower().startswith("on"))
        if keep and attr == "href":
            keep = value.strip().startswith("#") or (name == "image" and bool(_DATA_IMAGE.match(value.strip())))
        if keep and ns == XML_NS:
            keep = attr in ("space", "lang")
        if keep and attr == "style":
            keep = _css_safe(value)
        if keep and attr != "href" and ("url(" in value.lower() or ":" in value and "javascript" in value.lower()):
            keep = _css_safe(value)
        if not keep:
            del element.attrib[key]
    if name == "style":
        css = element.text or ""
        if not _css_safe(css):
            element.text = ""
        for child in list(element):
            element.remove(child)
        return
    for child in list(element):
        if not isinstance(child.tag, str):  # comments, processing instructions
            element.remove(child)
            continue
        ns, child_name = _local(child.tag)
        if ns != SVG_NS or child_name not in SVG_ELEMENTS:
            # keep the text that followed the dropped element
            element.remove(child)
            continue
        if child_name == "image" and not any(_local(k)[1] == "href" for k in child.attrib if
                                             _DATA_IMAGE.match(child.attrib[k].strip())):
            element.remove(child)
            continue
        _clean_element(child)

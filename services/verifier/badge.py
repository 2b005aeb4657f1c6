"""The badge image: the achievement's own image when it has one, else a generated rosette.

Every piece of text that reaches an SVG is XML-escaped here (names are hostile: a learner
or an issuer may be called ``<script>``). An achievement image is only ever embedded as a
``data:`` URI inside our own SVG, so it renders as an image — never as a document that
could run or load anything — and only our own issuer's images are fetched (they were
sanitised when uploaded); any other image falls back to the generated badge.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections import OrderedDict
from functools import lru_cache
from html import escape

import httpx

# Pairs of (light, dark) for the gradient; one is picked by the achievement's name, so a
# badge keeps its colour from page to page.
PALETTES = (
    ("#2f6fdb", "#163a7d"), ("#12946f", "#075140"), ("#7b46c9", "#3f1f72"), ("#d2622e", "#7f2e0f"),
    ("#1c8fb8", "#0b4a63"), ("#c0417a", "#6a1739"), ("#4d5fd1", "#222d7a"), ("#a7771c", "#5c3f06"),
)
MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_TYPES = {"image/png", "image/svg+xml"}


def palette(title: str) -> tuple[str, str]:
    return PALETTES[hashlib.sha256(title.encode("utf-8")).digest()[0] % len(PALETTES)]


def wrap(text: str, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap; over-long words are cut, and a text that does not fit ends in '…'."""
    words: list[str] = []
    for word in text.split():
        words += [word[i:i + width] for i in range(0, len(word), width)] or [word]
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1].rstrip() + "…"
    return lines or [""]


def _x(text: str) -> str:
    return escape(text, quote=True)


@lru_cache(maxsize=4096)
def generated_svg(title: str, issuer: str) -> str:
    """A rosette with the achievement's name and the issuer's name, 240 × 240."""
    light, dark = palette(title)
    lines = wrap(title, 14, 3)
    size = 25 if max(len(line) for line in lines) <= 10 else 20
    step = size + 4
    y0 = 128 - step * (len(lines) - 1) / 2
    text = "".join(f'<text x="120" y="{y0 + step * i:.0f}" font-size="{size}" font-weight="700">{_x(t)}</text>'
                   for i, t in enumerate(lines))
    issuer_line = wrap(issuer, 24, 1)[0] if issuer else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 240" width="240" height="240" role="img" '
        f'aria-label="{_x(title)}"><title>{_x(title)}{" — " + _x(issuer) if issuer else ""}</title>'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{light}"/>'
        f'<stop offset="1" stop-color="{dark}"/></linearGradient></defs>'
        '<circle cx="120" cy="120" r="116" fill="url(#g)"/>'
        '<circle cx="120" cy="120" r="104" fill="none" stroke="#fff" stroke-opacity=".45" stroke-width="2" '
        'stroke-dasharray="2 5" stroke-linecap="round"/>'
        '<circle cx="120" cy="58" r="17" fill="#fff" fill-opacity=".95"/>'
        f'<path d="M111 58.5l6 6 12-13" fill="none" stroke="{dark}" stroke-width="4" stroke-linecap="round" '
        'stroke-linejoin="round"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif">{text}'
        + (f'<rect x="38" y="170" width="164" height="24" rx="12" fill="#000" fill-opacity=".18"/>'
           f'<text x="120" y="186.5" font-size="12.5" font-weight="600" letter-spacing=".3">{_x(issuer_line)}</text>'
           if issuer_line else "")
        + "</g></svg>")


def image_svg(title: str, data: bytes, media_type: str) -> str:
    """The achievement's own image (PNG or SVG bytes) inside an SVG of ours, as a ``data:`` URI."""
    return image_svg_uri(title, f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}")


def image_svg_uri(title: str, uri: str) -> str:
    """An SVG of ours showing the image at ``uri`` (a ``data:`` URI: an SVG image loads nothing else)."""
    uri = _x(uri)
    return ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="0 0 240 240" width="240" height="240" role="img" aria-label="{_x(title)}">'
            f'<title>{_x(title)}</title><image width="240" height="240" preserveAspectRatio="xMidYMid meet" '
            f'href="{uri}" xlink:href="{uri}"/></svg>')


def _font(size: int, bold: bool):
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for path in (name, f"/usr/share/fonts/truetype/dejavu/{name}"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1024)
def generated_png(title: str, issuer: str, size: int = 480) -> bytes:
    """The generated badge as PNG (the base a credential is baked into when there is no PNG image)."""
    from PIL import Image, ImageChops, ImageDraw

    scale = size / 240
    light, dark = palette(title)
    # A diagonal gradient (the mean of a vertical and a horizontal one), masked to the disc.
    vertical = Image.linear_gradient("L").resize((size, size))
    diagonal = ImageChops.add(vertical, vertical.transpose(Image.Transpose.ROTATE_90), scale=2.0)
    fill = Image.composite(Image.new("RGBA", (size, size), dark), Image.new("RGBA", (size, size), light), diagonal)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((4 * scale, 4 * scale, 236 * scale, 236 * scale), fill=255)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    image.paste(fill, (0, 0), mask)
    # Translucent strokes go on their own layer, then are blended (drawing would overwrite alpha).
    overlay = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.ellipse((16 * scale, 16 * scale, 224 * scale, 224 * scale), outline=(255, 255, 255, 110),
                 width=max(2, int(scale * 2)))
    if issuer:
        draw.rounded_rectangle((38 * scale, 170 * scale, 202 * scale, 194 * scale), radius=12 * scale,
                               fill=(0, 0, 0, 46))
    image = Image.alpha_composite(image, overlay)
    draw = ImageDraw.Draw(image)
    draw.ellipse((103 * scale, 41 * scale, 137 * scale, 75 * scale), fill=(255, 255, 255, 245))
    draw.line([(111 * scale, 58.5 * scale), (117 * scale, 64.5 * scale), (129 * scale, 51.5 * scale)], fill=dark,
              width=int(4 * scale), joint="curve")
    lines = wrap(title, 14, 3)
    font_size = 25 if max(len(line) for line in lines) <= 10 else 20
    font = _font(int(font_size * scale * 0.92), bold=True)
    step = (font_size + 4) * scale
    y = 128 * scale - step * (len(lines) - 1) / 2
    for text in lines:
        draw.text((size / 2, y), text, font=font, fill="white", anchor="ms")
        y += step
    if issuer:
        draw.text((size / 2, 186.5 * scale), wrap(issuer, 24, 1)[0], font=_font(int(12 * scale), bold=True),
                  fill="white", anchor="ms")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class ImageSource:
    """Fetches achievement images and logos from our own issuer only, and keeps them.

    Our issuer names images by their SHA-256 (``/public/images/{sha256}.png|svg``), so an
    image under a URL never changes: a cached copy never goes stale.
    """

    def __init__(self, http: httpx.AsyncClient | None, issuer_url: str, size: int = 128) -> None:
        self.http = http
        self.prefix = issuer_url.rstrip("/") + "/public/images/"
        self.size = size
        self._cache: OrderedDict[str, tuple[bytes, str] | None] = OrderedDict()

    def is_ours(self, url: object) -> bool:
        return isinstance(url, str) and url.startswith(self.prefix) and "/" not in url[len(self.prefix):] \
            and ".." not in url and "?" not in url and "#" not in url

    async def get(self, url: object) -> tuple[bytes, str] | None:
        """``(bytes, media type)`` of one of our issuer's images; None for any other URL or on failure."""
        if self.http is None or not self.is_ours(url):
            return None
        assert isinstance(url, str)
        if url in self._cache:
            self._cache.move_to_end(url)
            return self._cache[url]
        try:
            r = await self.http.get(url)
        except httpx.HTTPError:
            return None  # not cached: the issuer may be back in a moment
        media_type = r.headers.get("content-type", "").split(";")[0].strip()
        found = (r.content, media_type) if (r.status_code == 200 and media_type in IMAGE_TYPES
                                           and len(r.content) <= MAX_IMAGE_BYTES) else None
        if r.status_code == 200 or r.status_code == 404:
            self._cache[url] = found
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return found


def image_url(value: object) -> str | None:
    """The URL of an OB 3.0 ``Image`` (a string, or an object with ``id``)."""
    url = value.get("id") if isinstance(value, dict) else value
    return url if isinstance(url, str) and len(url) <= 1_000_000 else None

"""The badge image: text escaped, long names wrapped, the achievement's own image only as data."""

from __future__ import annotations

import asyncio
import base64
from xml.etree import ElementTree

import httpx
import pytest

from services.verifier import badge


def test_markup_in_names_is_text_in_the_svg():
    svg = badge.generated_svg("<script>alert(1)</script>", 'Evil "Co" & <b>bold</b>')
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&amp;" in svg
    ElementTree.fromstring(svg)  # well-formed XML


@pytest.mark.parametrize("title", ["A", "Critical Thinking", "Intercultural Fluency and Global Citizenship in Practice",
                                   "Supercalifragilisticexpialidocious-level-credential", "  ", "Ω≈ç√∫ 日本語 🚀"])
def test_any_title_gives_well_formed_svg_and_png(title):
    root = ElementTree.fromstring(badge.generated_svg(title, "Cascade"))
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert len(texts) <= 4  # at most three title lines and the issuer
    assert badge.generated_png(title, "Cascade").startswith(b"\x89PNG")


def test_wrap_cuts_long_words_and_ends_an_overflow_with_an_ellipsis():
    assert badge.wrap("Drone Operations", 14, 3) == ["Drone", "Operations"]
    lines = badge.wrap("one two three four five six seven eight nine ten eleven", 10, 3)
    assert len(lines) == 3 and lines[-1].endswith("…") and all(len(line) <= 10 for line in lines)
    assert badge.wrap("x" * 30, 14, 3) == ["x" * 14, "x" * 14, "xx"]


def test_the_colour_is_stable_per_achievement():
    assert badge.palette("Empathy") == badge.palette("Empathy")


def test_an_image_is_embedded_as_a_data_uri_inside_our_svg():
    svg = badge.image_svg("Drone <Ops>", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    root = ElementTree.fromstring(svg)
    image = root.find("{http://www.w3.org/2000/svg}image")
    assert image.get("href").startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(image.get("href").split(",", 1)[1]).startswith(b"<svg")
    assert "Drone &lt;Ops&gt;" in svg


def test_only_our_issuers_images_are_fetched_and_they_are_kept():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, content=b"\x89PNG...", headers={"content-type": "image/png"})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            source = badge.ImageSource(http, "http://issuer:8001")
            ours = "http://issuer:8001/public/images/" + "a" * 64 + ".png"
            assert await source.get(ours) == (b"\x89PNG...", "image/png")
            assert await source.get(ours) == (b"\x89PNG...", "image/png")
            for other in ("https://evil.example/x.png", "http://issuer:8001/public/images/../api/v1/x",
                          "http://issuer:8001/public/images/a/b.png", None, 42):
                assert await source.get(other) is None
    asyncio.run(run())
    assert len(calls) == 1


def test_a_non_image_answer_from_the_issuer_is_not_used():
    def handler(request):
        return httpx.Response(200, content=b"<html>", headers={"content-type": "text/html"})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            return await badge.ImageSource(http, "http://i").get("http://i/public/images/x.svg")
    assert asyncio.run(run()) is None

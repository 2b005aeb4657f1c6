"""Baked badges: the credential in an iTXt chunk (OB 3.0), written and read by hand."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image

from services.core import baking
from services.verifier.badge import generated_png
from tests.unit.verifier_fakes import CREDENTIAL

BASE = generated_png("Critical Thinking", "Cascade & Co")


def test_a_baked_png_gives_back_the_same_credential_and_stays_a_valid_png():
    baked = baking.bake(BASE, CREDENTIAL)
    assert baking.unbake(baked) == CREDENTIAL
    assert baked.endswith(b"IEND\xaeB`\x82")
    image = Image.open(BytesIO(baked))
    image.verify()  # structure and every CRC
    assert Image.open(BytesIO(baked)).size == (480, 480)


def test_the_chunk_is_an_uncompressed_itxt_with_the_ob3_keyword_before_iend():
    baked = baking.bake(BASE, CREDENTIAL)
    kinds = [kind for _, _, kind, _ in baking.chunks(baked)]
    assert kinds[-2:] == [b"iTXt", b"IEND"]
    data = [d for _, _, kind, d in baking.chunks(baked) if kind == b"iTXt"][0]
    assert data.startswith(b"openbadgecredential\x00\x00\x00\x00\x00")


def test_baking_again_replaces_the_credential_instead_of_adding_a_second():
    twice = baking.bake(baking.bake(BASE, CREDENTIAL), {**CREDENTIAL, "id": "other"})
    assert baking.unbake(twice)["id"] == "other"
    assert sum(kind == b"iTXt" for _, _, kind, _ in baking.chunks(twice)) == 1


def test_a_compressed_itxt_is_read_too():
    text = zlib.compress(b'{"id": "z"}')
    chunk = baking.chunk(b"iTXt", b"openbadgecredential\x00\x01\x00\x00\x00" + text)
    png = BASE[:-12] + chunk + BASE[-12:]
    assert baking.unbake(png) == {"id": "z"}


def _with_itxt(payload: bytes) -> bytes:
    return BASE[:-12] + baking.chunk(b"iTXt", payload) + BASE[-12:]


@pytest.mark.parametrize("png,message", [
    (b"GIF89a....", "not a PNG"),
    (baking.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR", "truncated"),
    (BASE[:-12], "truncated"),  # no IEND
    (_with_itxt(b"openbadgecredential\x00\x00\x00\x00\x00not json"), "not JSON"),
    (_with_itxt(b"openbadgecredential\x00\x00\x00\x00\x00[1]"), "not a JSON object"),
    (_with_itxt(b"openbadgecredential\x00\x00"), "malformed"),
    (_with_itxt(b"openbadgecredential\x00\x01\x00\x00\x00garbage"), "damaged"),
    (BASE, "no Open Badges credential"),
])
def test_a_bad_png_is_a_clear_error(png, message):
    with pytest.raises(baking.BakingError, match=message):
        baking.unbake(png)


def test_a_flipped_byte_in_the_baked_chunk_is_caught_by_its_crc():
    baked = bytearray(baking.bake(BASE, CREDENTIAL))
    at = baked.index(b"Critical Thinking")
    baked[at] ^= 0x01
    with pytest.raises(baking.BakingError, match="damaged"):
        baking.unbake(bytes(baked))


def test_a_compression_bomb_is_refused():
    bomb = zlib.compress(b" " * (baking.MAX_TEXT + 10))
    with pytest.raises(baking.BakingError, match="too large"):
        baking.unbake(_with_itxt(b"openbadgecredential\x00\x01\x00\x00\x00" + bomb))


def test_chunk_layout_follows_the_png_spec():
    assert baking.chunk(b"tEXt", b"ab") == struct.pack(">I", 2) + b"tEXtab" + struct.pack(">I", zlib.crc32(b"tEXtab"))

"""The W3C Bitstring Status List rules (services/core/statuslist.py) on plain data."""

from __future__ import annotations

import base64
import gzip

import pytest
from hypothesis import given, settings, strategies as st

from services.core import statuslist as sl


def test_index_zero_is_the_leftmost_bit_of_the_first_byte():
    bits = sl.empty()
    sl.set_bits(bits, on=[0, 9])
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000
    assert sl.get_bit(bits, 0) and sl.get_bit(bits, 9) and not sl.get_bit(bits, 1)
    sl.set_bits(bits, off=[0])
    assert not sl.get_bit(bits, 0) and sl.get_bit(bits, 9)


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, sl.MIN_ENTRIES - 1), max_size=200))
def test_encoding_round_trips_and_is_deterministic(on):
    bits = sl.empty()
    sl.set_bits(bits, on=on)
    encoded = sl.encode(bits)
    assert encoded.startswith("u") and "=" not in encoded and encoded == sl.encode(bytes(bits))
    decoded = sl.decode(encoded)
    assert {i for i in range(sl.MIN_ENTRIES) if sl.get_bit(decoded, i)} == on


def test_a_list_shorter_than_the_minimum_is_refused_both_ways():
    with pytest.raises(sl.StatusListError):
        sl.encode(bytes(100))
    short = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).decode().rstrip("=")
    with pytest.raises(sl.StatusListError, match="fewer than"):
        sl.decode(short)


@pytest.mark.parametrize("bad", [None, 42, "zabc", "u***", "u" + base64.urlsafe_b64encode(b"not gzip").decode()])
def test_a_malformed_encoded_list_is_a_status_list_error(bad):
    with pytest.raises(sl.StatusListError):
        sl.decode(bad)


def test_a_gzip_bomb_is_refused_without_inflating_it_all():
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(sl.MAX_BITS // 8 + 1024))).decode().rstrip("=")
    assert len(bomb) < sl.MAX_ENCODED_CHARS
    with pytest.raises(sl.StatusListError, match="implausibly large"):
        sl.decode(bomb)


def test_entries_are_parsed_strictly_and_other_status_types_are_left_alone():
    url = "https://issuer.example/status-lists/acme/revocation/1"
    status = [sl.entry(url, "revocation", 7), {"id": "x", "type": "1EdTechRevocationList"}]
    assert sl.entries(status) == [sl.Entry("revocation", 7, url)]
    for bad in ({**sl.entry(url, "revocation", 7), "statusListIndex": 7},
                {**sl.entry(url, "revocation", 7), "statusListIndex": "-1"},
                {**sl.entry(url, "revocation", 7), "statusListIndex": "007"},
                {**sl.entry(url, "revocation", 7), "statusListCredential": "ftp://x"}):
        with pytest.raises(sl.StatusListError):
            sl.entries([bad])


def test_a_list_credential_is_read_only_if_it_is_the_list_the_entry_names():
    url = "https://issuer.example/status-lists/acme/revocation/1"
    bits = sl.empty()
    sl.set_bits(bits, on=[5])
    document = sl.list_credential(list_url=url, issuer="did:web:issuer.example", purpose="revocation", bits=bits,
                                  valid_from="2026-12-01T00:00:00Z")
    assert sl.get_bit(sl.read_list(document, url, "revocation", "did:web:issuer.example"), 5)
    with pytest.raises(sl.StatusListError, match="URL"):
        sl.read_list(document, url + "x", "revocation", "did:web:issuer.example")
    with pytest.raises(sl.StatusListError, match="someone other"):
        sl.read_list(document, url, "revocation", "did:web:mallory.example")
    with pytest.raises(sl.StatusListError, match="suspension"):
        sl.read_list(document, url, "suspension", "did:web:issuer.example")


def test_the_list_id_is_keccak_of_the_url():
    assert sl.list_id("https://a.example/l").hex() == sl.list_id("https://a.example/l").hex()
    assert sl.list_id("https://a.example/l") != sl.list_id("https://a.example/m")
    assert len(sl.list_id("https://a.example/l")) == 32

"""The verifier's reading of signed status list versions (services/verifier/statuscheck.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import dataintegrity, statuslist
from services.core.jsonld import credential_hash
from services.core.multiformats import encode_public_key
from services.verifier.statuscheck import StatusLists, verified_bits

ISSUER_URL = "http://issuer.test:8001"
DID = "did:web:issuer.test%3A8001:issuers:acme"
URL = f"{ISSUER_URL}/status-lists/acme/revocation/1"


def _key():
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, raw, f"{DID}#{encode_public_key(raw)}"


def _version(private, method, on=(), issuer=DID, url=URL, purpose="revocation") -> dict:
    bits = statuslist.empty()
    statuslist.set_bits(bits, on=on)
    unsigned = statuslist.list_credential(list_url=url, issuer=issuer, purpose=purpose, bits=bits,
                                          valid_from="2026-12-01T00:00:00Z")
    return dataintegrity.sign(unsigned, private, method, "2026-12-01T00:00:00Z")


ENTRY = statuslist.Entry("revocation", 42, URL)


def test_a_version_signed_by_the_issuers_key_with_the_hash_on_chain_is_read():
    private, raw, method = _key()
    version = _version(private, method, on=[42])
    bits = verified_bits(version, ENTRY, DID, credential_hash(version), lambda k: k == raw)
    assert statuslist.get_bit(bits, 42) and not statuslist.get_bit(bits, 41)


def test_a_version_is_refused_when_its_hash_is_not_the_one_on_chain_or_its_signer_is_not_the_issuers():
    private, raw, method = _key()
    version = _version(private, method, on=[42])
    with pytest.raises(statuslist.StatusListError, match="not the version recorded"):
        verified_bits(version, ENTRY, DID, b"\x01" * 32, lambda k: k == raw)
    with pytest.raises(statuslist.StatusListError, match="not signed by a key of the issuer"):
        verified_bits(version, ENTRY, DID, credential_hash(version), lambda k: False)
    tampered = {**version, "credentialSubject": {**version["credentialSubject"],
                                                 "encodedList": statuslist.encode(statuslist.empty())}}
    with pytest.raises(statuslist.StatusListError):
        verified_bits(tampered, ENTRY, DID, None, lambda k: k == raw)
    other = _version(private, method, issuer="did:web:mallory.example")
    with pytest.raises(statuslist.StatusListError, match="someone other"):
        verified_bits(other, ENTRY, DID, credential_hash(other), lambda k: k == raw)


def test_versions_are_fetched_by_hash_cached_for_good_and_a_missing_issuer_is_transient():
    private, raw, method = _key()
    version = _version(private, method, on=[42])
    list_hash = credential_hash(version)
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if str(request.url) == f"{URL}/versions/0x{list_hash.hex()}":
            return httpx.Response(200, json=version)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})

    async def run():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            lists = StatusLists(http, ISSUER_URL)
            assert lists.is_ours(ENTRY) and not lists.is_ours(statuslist.Entry("revocation", 1, "https://x.example/l"))
            first = await lists.read_own([ENTRY], [list_hash], DID, lambda k: k == raw)
            again = await lists.read_own([ENTRY], [list_hash], DID, lambda k: k == raw)
            unknown = await lists.read_own([ENTRY], [b"\x02" * 32], DID, lambda k: k == raw)
            pending = await lists.read_own([ENTRY], [b"\x00" * 32], DID, lambda k: k == raw)
            return first, again, unknown, pending
        
    first, again, unknown, pending = asyncio.run(run())
    assert first[0].set is True and again[0].set is True and len([u for u in asked if list_hash.hex() in u]) == 1
    assert unknown[0].error and pending[0].pending

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async def run_down():
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            return await StatusLists(http, ISSUER_URL).read_own([ENTRY], [list_hash], DID, lambda k: k == raw)

    assert asyncio.run(run_down())[0].transient

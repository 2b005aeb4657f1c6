"""Open Badges 3.0 credentials of other platforms, signed by independent code, pass our checks.

tests/interop/third_party.mjs signs them with Digital Bazaar's libraries (fresh keys every run,
nothing saved): issued by a did:key, and by a did:web whose document a real HTTP server on
loopback serves here. Each must pass check_shape and strict canonicalisation, and verify with
``services.core.dataintegrity.verify_all`` using only the keys ``services.verifier.didweb``
resolves (the did:web one fetched over http, which only ``allow_http_loopback`` permits); a
key the DID lists for authentication only is not one of them; a tampered copy fails.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path

import httpx
import pytest

from services.core import jsonld
from services.core.credential import check_shape, issuer_id, summary
from services.core.dataintegrity import verify_all
from services.core.multiformats import decode_public_key
from services.verifier.didweb import DidResolutionError, KeyCache, resolve_keys
from tests.support.json_server import JsonServer
from tests.support.node import require_packages, run_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "third_party.mjs"
NODE_PACKAGES = ("@digitalbazaar/vc", "@digitalbazaar/data-integrity", "@digitalbazaar/eddsa-rdfc-2022-cryptosuite",
                 "@digitalbazaar/ed25519-multikey")

require_packages(*NODE_PACKAGES, why="cannot sign third-party fixtures with the JS libraries")

GOOD = ("didKey.plain", "didKey.revocationList", "didWeb.plain", "didWeb.revocationList", "didWeb.jwk")
DID_PATH = "/issuers/acme/did.json"


@pytest.fixture(scope="module")
def server():
    running = JsonServer(content_type="application/did+json", not_found=b'{"error": "not found"}')
    yield running
    running.close()


@pytest.fixture(scope="module")
def fixtures(server):
    did = f"did:web:127.0.0.1%3A{server.port}:issuers:acme"
    out = run_script(SCRIPT, payload={"didWeb": did})
    server.documents[DID_PATH] = out["didWeb"]["didDocument"]
    credentials = {f"{issuer}.{name}": credential
                   for issuer in ("didKey", "didWeb") for name, credential in out[issuer]["credentials"].items()}
    return {"out": out, "credentials": credentials, "did_web": did, "did_key": out["didKey"]["did"]}


def resolve(did: str, *, allow_http_loopback: bool = True, cache: KeyCache | None = None) -> dict[str, bytes]:
    async def go() -> dict[str, bytes]:
        async with httpx.AsyncClient() as client:
            return await resolve_keys(did, client, trusted_hosts=set(), max_bytes=65536, timeout=5,
                                      allow_http_loopback=allow_http_loopback, cache=cache)
    return asyncio.run(go())


def keys_for(credential: dict) -> dict[str, bytes]:
    return resolve(issuer_id(credential))


def verified(credential: dict, keys: dict[str, bytes]) -> bool:
    def key(method: str) -> bytes:
        if method not in keys:
            raise LookupError(f"{method} is not an assertion key of the issuer")
        return keys[method]
    return verify_all(credential, key).valid


def test_digital_bazaar_verifies_what_it_signed(fixtures):
    results = fixtures["out"]["jsVerified"]
    assert {name: r["verified"] for name, r in results.items()} == {**{name: True for name in GOOD},
                                                                     "didWeb.authOnly": False}, results
    assert "not authorized" in " ".join(results["didWeb.authOnly"]["errors"])


@pytest.mark.parametrize("name", GOOD)
def test_their_credentials_pass_our_format_check(fixtures, name):
    credential = fixtures["credentials"][name]
    check_shape(credential)
    unsigned = {k: v for k, v in credential.items() if k != "proof"}
    assert jsonld.canonicalize(unsigned)  # strict compact form, safe mode, within the budget
    assert summary(credential)["name"] == "Drone Operations"
    if name.endswith("revocationList"):
        assert credential["credentialStatus"]["type"] == "1EdTechRevocationList"
        assert "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json" in credential["@context"]
    else:
        assert "credentialStatus" not in credential


def test_a_did_key_issuer_is_its_own_key(fixtures, server):
    did = fixtures["did_key"]
    before = len(server.requests)
    keys = resolve(did)
    assert keys == {f"{did}#{did[len('did:key:'):]}": decode_public_key(did[len("did:key:"):])}
    assert len(server.requests) == before  # nothing fetched
    for name in ("didKey.plain", "didKey.revocationList"):
        credential = fixtures["credentials"][name]
        assert issuer_id(credential) == did
        assert credential["proof"]["verificationMethod"] in keys
        assert verified(credential, keys)


def test_a_did_web_issuer_is_read_from_its_served_document(fixtures, server):
    did = fixtures["did_web"]
    before = len(server.requests)
    keys = resolve(did)
    assert server.requests[before:] == [DID_PATH]
    assert set(keys) == {f"{did}#key-1", f"{did}#key-2"}  # #auth is for authentication only
    document = fixtures["out"]["didWeb"]["didDocument"]
    assert keys[f"{did}#key-1"] == decode_public_key(document["verificationMethod"][0]["publicKeyMultibase"])
    for name, method in (("didWeb.plain", "key-1"), ("didWeb.revocationList", "key-1"), ("didWeb.jwk", "key-2")):
        credential = fixtures["credentials"][name]
        assert issuer_id(credential) == did
        assert credential["proof"]["verificationMethod"] == f"{did}#{method}"
        assert verified(credential, keys), name


def test_a_cache_spares_the_second_fetch(fixtures, server):
    cache = KeyCache(ttl=60, maxsize=4)
    before = len(server.requests)
    assert resolve(fixtures["did_web"], cache=cache) == resolve(fixtures["did_web"], cache=cache)
    assert len(server.requests) == before + 1


def test_an_authentication_key_does_not_sign_credentials(fixtures):
    credential = fixtures["credentials"]["didWeb.authOnly"]
    check_shape(credential)
    method = credential["proof"]["verificationMethod"]
    assert method == fixtures["did_web"] + "#auth"
    assert method not in keys_for(credential)
    with pytest.raises(LookupError, match="not an assertion key"):
        verified(credential, keys_for(credential))
    # The signature itself is sound: it is refused for its key's purpose, not for being broken.
    auth = next(m for m in fixtures["out"]["didWeb"]["didDocument"]["verificationMethod"] if m["id"] == method)
    assert verify_all(credential, decode_public_key(auth["publicKeyMultibase"])).valid


def _tamperings(credential: dict):
    def achievement(c):
        c["credentialSubject"]["achievement"]["name"] = "Drone Instructor"

    def recipient(c):
        c["credentialSubject"]["name"] = "Mallory"

    def until(c):
        c["validUntil"] = "2099-10-01T09:00:00Z"

    def status(c):
        if "credentialStatus" in c:
            c["credentialStatus"]["id"] = "https://badges.other.example/revocations/never"
        else:
            c["issuer"]["name"] = "Someone Else"

    def signed_date(c):
        c["proof"]["created"] = "2020-01-01T00:00:00Z"

    for change in (achievement, recipient, until, status, signed_date):
        tampered = copy.deepcopy(credential)
        change(tampered)
        yield change.__name__, tampered


@pytest.mark.parametrize("name", GOOD)
def test_a_tampered_copy_fails(fixtures, name):
    credential = fixtures["credentials"][name]
    keys = keys_for(credential)
    assert verified(credential, keys)
    for change, tampered in _tamperings(credential):
        check_shape(tampered)  # still well formed: only the signature can tell
        assert not verified(tampered, keys), change


def test_a_did_web_on_loopback_is_refused_without_the_flag_and_a_stopped_host_is_transient(fixtures):
    with pytest.raises(DidResolutionError, match="private or local") as caught:
        resolve(fixtures["did_web"], allow_http_loopback=False)
    assert not caught.value.transient

    stopped = JsonServer(content_type="application/did+json", not_found=b'{"error": "not found"}')
    port = stopped.port
    stopped.close()
    with pytest.raises(DidResolutionError, match="right now") as caught:
        resolve(f"did:web:127.0.0.1%3A{port}:issuers:acme")
    assert caught.value.transient


def test_a_document_for_another_did_is_refused(fixtures, server):
    other = copy.deepcopy(fixtures["out"]["didWeb"]["didDocument"])
    server.documents["/issuers/mallory/did.json"] = other  # Acme's document served at Mallory's address
    with pytest.raises(DidResolutionError, match="names") as caught:
        resolve(f"did:web:127.0.0.1%3A{server.port}:issuers:mallory")
    assert not caught.value.transient


def _verify_with_our_checker(credential: dict) -> dict:
    """The verifier's own checker, as it runs for a pasted badge: no chain record, DIDs resolved over loopback."""
    from services.verifier.checker import Checker

    async def go() -> dict:
        async with httpx.AsyncClient() as http:
            checker = Checker(chain=None, http=http, registry_url=None, issuer_url="http://issuer.invalid",
                              public_base_url="http://verify.invalid", allow_http_loopback=True, fetch_timeout=3)
            return (await checker.verify_document(credential)).to_json()
    return asyncio.run(go())


@pytest.mark.parametrize("name", ["didKey.plain", "didWeb.plain", "didWeb.jwk"])
def test_our_verifier_accepts_their_badges_and_says_only_the_signature_stands_behind_them(fixtures, name):
    report = _verify_with_our_checker(fixtures["credentials"][name])
    checks = {c["id"]: c for c in report["checks"]}
    assert report["status"] == "valid", report
    assert report["assurance"]["level"] == "signature"
    assert {checks[i]["status"] for i in ("issuer", "integrity", "anchor")} == {"skipped"}
    assert checks["signature"]["status"] == "passed" and checks["expiry"]["status"] == "passed"
    assert "declares no revocation status" in checks["revocation"]["message"]


def test_our_verifier_refuses_their_tampered_or_wrongly_keyed_badges(fixtures):
    tampered = copy.deepcopy(fixtures["credentials"]["didWeb.plain"])
    tampered["credentialSubject"]["achievement"]["name"] = "Drone Operations (Advanced)"
    assert _verify_with_our_checker(tampered)["status"] == "invalid"
    auth_only = _verify_with_our_checker(fixtures["out"]["didWeb"]["credentials"]["authOnly"])
    assert auth_only["status"] == "invalid"
    signature = next(c for c in auth_only["checks"] if c["id"] == "signature")
    assert signature["status"] == "failed" and "not an assertion key in the issuer's DID document" in signature["message"]


def test_a_revocation_list_that_cannot_be_reached_is_cannot_be_checked_not_valid(fixtures):
    report = _verify_with_our_checker(fixtures["credentials"]["didKey.revocationList"])
    assert report["status"] == "unavailable" and report["verified"] is False

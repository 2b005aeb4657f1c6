"""did:key and did:web key resolution (services/verifier/didweb.py), over a mock transport."""

from __future__ import annotations

import asyncio
import base64
import copy

import httpx
import pytest

from services.core.multiformats import encode_public_key
from services.verifier.didweb import DidResolutionError, KeyCache, did_web_url, keys_from_document, resolve_keys

KEY = bytes(range(32))
KEY2 = bytes(range(32, 64))
MB, MB2 = encode_public_key(KEY), encode_public_key(KEY2)
DID = "did:web:issuer.example"
JWK_X = base64.urlsafe_b64encode(KEY2).rstrip(b"=").decode()


def document(did: str = DID, **changes) -> dict:
    doc = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {"id": f"{did}#key-1", "type": "Multikey", "controller": did, "publicKeyMultibase": MB},
            {"id": "#key-2", "type": "JsonWebKey", "controller": did,
             "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": JWK_X}},
            {"id": f"{did}#auth", "type": "Multikey", "controller": did, "publicKeyMultibase": MB2},
        ],
        "assertionMethod": [f"{did}#key-1", "#key-2"],
        "authentication": [f"{did}#auth"],
    }
    doc.update(changes)
    return doc


def run(did, handler=None, *, trusted=("issuer.example",), allow_http_loopback=False, cache=None, timeout=2.0):
    async def go():
        transport = httpx.MockTransport(handler or (lambda request: httpx.Response(404)))
        async with httpx.AsyncClient(transport=transport) as client:
            return await resolve_keys(did, client, trusted_hosts=set(trusted), max_bytes=65536, timeout=timeout,
                                      allow_http_loopback=allow_http_loopback, cache=cache)
    return asyncio.run(go())


def serving(doc, seen=None, status=200):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(str(request.url))
        return httpx.Response(status, json=doc)
    return handler


# --- did:key ---------------------------------------------------------------------------------

def test_a_did_key_is_its_own_key_and_nothing_is_fetched():
    did = f"did:key:{MB}"
    assert run(did, lambda r: pytest.fail("fetched")) == {f"{did}#{MB}": KEY}


@pytest.mark.parametrize("did", [
    "did:key:", "did:key:z6Mk", f"did:key:{MB}#{MB}", f"did:key:{MB}x0", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
    f"did:key:{MB[:-2]}", "did:key:z6MkO0Il", f" did:key:{MB}",
])
def test_a_malformed_or_non_ed25519_did_key_is_refused(did):
    with pytest.raises(DidResolutionError) as caught:
        run(did)
    assert not caught.value.transient


# --- did:web URLs (did:web method §3.2) -----------------------------------------------------

@pytest.mark.parametrize("did,url", [
    ("did:web:example.com", "https://example.com/.well-known/did.json"),
    ("did:web:Example.COM", "https://example.com/.well-known/did.json"),
    ("did:web:example.com:user:alice", "https://example.com/user/alice/did.json"),
    ("did:web:example.com%3A3000", "https://example.com:3000/.well-known/did.json"),
    ("did:web:example.com%3a3000:user:alice", "https://example.com:3000/user/alice/did.json"),
    ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
    ("did:web:example.com:a%20b:%C3%A9t%C3%A9", "https://example.com/a%20b/%C3%A9t%C3%A9/did.json"),
    ("did:web:127.0.0.1%3A8001:issuers:lakeside", "https://127.0.0.1:8001/issuers/lakeside/did.json"),
])
def test_did_web_urls_follow_the_spec(did, url):
    assert did_web_url(did) == url


def test_http_only_for_a_loopback_host_when_allowed():
    assert did_web_url("did:web:localhost%3A8001:x", allow_http_loopback=True) == "http://localhost:8001/x/did.json"
    assert did_web_url("did:web:127.0.0.1%3A8001", allow_http_loopback=True) == \
        "http://127.0.0.1:8001/.well-known/did.json"
    assert did_web_url("did:web:example.com", allow_http_loopback=True) == "https://example.com/.well-known/did.json"
    assert did_web_url("did:web:127.0.0.1%3A8001") == "https://127.0.0.1:8001/.well-known/did.json"


@pytest.mark.parametrize("did,why", [
    ("did:web:", "well-formed"),
    ("did:web:example.com:", "well-formed"),
    ("did:web:example.com::x", "not allowed"),
    ("did:web:example.com/path", "well-formed"),
    ("did:web:example.com#key-1", "well-formed"),
    ("did:web:example.com?x=1", "well-formed"),
    ("did:web:exa mple.com", "well-formed"),
    ("did:web:exämple.com", "well-formed"),
    ("did:web:example.com%2Fevil", "%3A before a port"),
    ("did:web:example.com%3A", "%3A before a port"),
    ("did:web:example.com%3A80%3A81", "%3A before a port"),
    ("did:web:example.com%3Ahttp", "%3A before a port"),
    ("did:web:example.com%3A0", "out of range"),
    ("did:web:example.com%3A70000", "out of range"),
    ("did:web:-example.com", "valid host"),
    ("did:web:example..com", "valid host"),
    ("did:web:example.com.", "valid host"),
    ("did:web:%3A443", "valid host"),
    ("did:web:example.com:..:admin", "dot segment"),
    ("did:web:example.com:%2E%2E:admin", "dot segment"),
    ("did:web:example.com:%00", "control"),
    ("did:web:example.com:a%2Fb", "slash"),  # servers disagree on what %2F in a path means
    ("did:web:example.com:a%5Cb", "slash"),
    ("did:web:example.com:%20", "not allowed"),
    ("did:web:example.com:%FF", "UTF-8"),
])
def test_malformed_did_web_identifiers_are_refused(did, why):
    with pytest.raises(DidResolutionError, match=why) as caught:
        run(did, lambda r: pytest.fail("fetched"))
    assert not caught.value.transient


@pytest.mark.parametrize("did", ["did:example:123", "did:ion:abc", "https://issuer.example", "", None, "did:web"])
def test_other_methods_are_refused(did):
    with pytest.raises(DidResolutionError):
        run(did)


def test_a_long_hostile_did_is_refused_quickly():
    import time
    start = time.perf_counter()
    for did in ("did:web:" + "a:" * 1000 + "!", "did:web:" + "%41" * 680 + "!", "did:web:" + "a" * 5000):
        with pytest.raises(DidResolutionError):
            run(did)
    assert time.perf_counter() - start < 1


# --- fetching --------------------------------------------------------------------------------

def test_did_web_keys_are_the_assertion_methods_only():
    seen: list[str] = []
    keys = run(DID, serving(document(), seen))
    assert seen == ["https://issuer.example/.well-known/did.json"]
    assert keys == {f"{DID}#key-1": KEY, f"{DID}#key-2": KEY2}  # #auth is not an assertion method


def test_a_path_did_is_fetched_from_its_path():
    did = "did:web:issuer.example:issuers:lakeside"
    seen: list[str] = []
    assert run(did, serving(document(did), seen)) == {f"{did}#key-1": KEY, f"{did}#key-2": KEY2}
    assert seen == ["https://issuer.example/issuers/lakeside/did.json"]


def test_embedded_and_ed25519_2020_methods_and_jwk_2020_are_read():
    doc = document(verificationMethod=[], assertionMethod=[
        {"id": f"{DID}#a", "type": "Ed25519VerificationKey2020", "controller": DID, "publicKeyMultibase": MB},
        {"id": "#b", "type": "JsonWebKey2020", "controller": DID,
         "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": JWK_X}},
        {"id": "#c", "type": "EcdsaSecp256k1VerificationKey2019", "controller": DID, "publicKeyHex": "02ab"},
        {"id": "#d", "type": "JsonWebKey", "controller": DID, "publicKeyJwk": {"kty": "EC", "crv": "P-256"}},
    ])
    assert run(DID, serving(doc)) == {f"{DID}#a": KEY, f"{DID}#b": KEY2}


def test_a_single_assertion_method_string_is_read():
    assert run(DID, serving(document(assertionMethod="#key-2"))) == {f"{DID}#key-2": KEY2}


@pytest.mark.parametrize("changes,why", [
    ({"id": "did:web:other.example"}, "names 'did:web:other.example'"),
    ({"id": None}, "names None"),
    ({"assertionMethod": []}, "no Ed25519 key"),
    ({"assertionMethod": ["#auth-missing"]}, "does not define"),
    ({"assertionMethod": ["did:web:other.example#key-1"]}, "not a method of"),
    ({"assertionMethod": [f"{MB}"]}, "not a method of"),
    ({"assertionMethod": ["#"]}, "not a method of"),
    ({"assertionMethod": [42]}, "neither"),
    ({"assertionMethod": [{"type": "Multikey", "controller": DID, "publicKeyMultibase": MB}]}, "has no id"),
    ({"assertionMethod": ["#x"] * 65}, "more than 64"),
    ({"verificationMethod": ["#key-1"]}, "not an object"),
    ({"verificationMethod": [{"id": "#key-1", "type": "Multikey", "controller": DID, "publicKeyMultibase": MB},
                             {"id": f"{DID}#key-1", "type": "Multikey", "controller": DID,
                              "publicKeyMultibase": MB}]}, "twice"),
])
def test_malformed_documents_are_refused(changes, why):
    with pytest.raises(DidResolutionError, match=why) as caught:
        run(DID, serving(document(**changes)))
    assert not caught.value.transient


@pytest.mark.parametrize("method,why", [
    ({"controller": "did:key:" + MB}, "controlled by"),
    ({"controller": None}, "controlled by"),
    ({"publicKeyMultibase": "z" + MB[1:-1]}, "publicKeyMultibase"),
    ({"publicKeyMultibase": encode_public_key(KEY).replace("z", "u", 1)}, "publicKeyMultibase"),
    ({"publicKeyMultibase": None}, "publicKeyMultibase"),
    ({"type": "JsonWebKey", "publicKeyJwk": None}, "no publicKeyJwk"),
    ({"type": "JsonWebKey", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": JWK_X + "A"}}, "32-byte"),
    ({"type": "JsonWebKey", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": JWK_X[:-1] + "B"}}, "32-byte"),
    ({"type": "JsonWebKey", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": 5}}, "32-byte"),
    ({"type": "JsonWebKey2020", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": JWK_X, "d": JWK_X}},
     "private key"),
])
def test_a_malformed_key_of_a_type_we_read_is_an_error(method, why):
    doc = document()
    doc["verificationMethod"][0].update(method)
    with pytest.raises(DidResolutionError, match=why):
        run(DID, serving(doc))


def test_a_document_that_is_not_a_did_document_is_refused():
    with pytest.raises(DidResolutionError):
        keys_from_document(DID, ["not", "an", "object"])
    with pytest.raises(DidResolutionError, match="did not return JSON"):
        run(DID, lambda r: httpx.Response(200, text="<html>"))


# --- transient or not ------------------------------------------------------------------------

def _raises(exc):
    def handler(request):
        raise exc
    return handler


@pytest.mark.parametrize("handler,transient", [
    (serving({}, status=503), True),
    (serving({}, status=502), True),
    (serving({}, status=429), True),
    (_raises(httpx.ConnectError("refused")), True),
    (_raises(httpx.ReadTimeout("slow")), True),
    (serving({}, status=404), False),
    (serving({}, status=410), False),
    (lambda r: httpx.Response(200, content=b"x" * 70_000), False),
])
def test_transient_only_when_the_host_did_not_answer(handler, transient):
    with pytest.raises(DidResolutionError) as caught:
        run(DID, handler)
    assert caught.value.transient is transient
    assert ("right now" in str(caught.value)) is transient


def test_a_timeout_is_transient():
    async def slow(request):
        await asyncio.sleep(5)
        return httpx.Response(200, json=document())
    with pytest.raises(DidResolutionError, match="within 0.2 s") as caught:
        run(DID, slow, timeout=0.2)
    assert caught.value.transient


def test_a_host_that_does_not_resolve_is_transient(monkeypatch):
    import socket

    def nowhere(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", nowhere)
    with pytest.raises(DidResolutionError, match="does not resolve") as caught:
        run("did:web:gone.example", trusted=())
    assert caught.value.transient


def test_a_loopback_host_needs_the_flag_and_is_then_fetched_over_http():
    doc = document("did:web:localhost%3A8123")
    with pytest.raises(DidResolutionError, match="private or local") as caught:
        run("did:web:localhost%3A8123", serving(doc), trusted=())
    assert not caught.value.transient
    seen: list[str] = []
    keys = run("did:web:localhost%3A8123", serving(doc, seen), trusted=(), allow_http_loopback=True)
    assert seen == ["http://localhost:8123/.well-known/did.json"]
    assert set(keys) == {"did:web:localhost%3A8123#key-1", "did:web:localhost%3A8123#key-2"}


def test_a_private_non_loopback_host_stays_refused_with_the_flag(monkeypatch):
    async def private(host, port):
        return ["10.0.0.5"]
    monkeypatch.setattr("services.core.urlsafety._addresses", private)
    with pytest.raises(DidResolutionError, match="private or local"):
        run("did:web:intranet.example", serving(document("did:web:intranet.example")), trusted=(),
            allow_http_loopback=True)


def test_redirects_are_followed_under_the_same_rules():
    def handler(request):
        if request.url.path == "/.well-known/did.json":
            return httpx.Response(302, headers={"location": "https://issuer.example/moved/did.json"})
        return httpx.Response(200, json=document())
    assert set(run(DID, handler)) == {f"{DID}#key-1", f"{DID}#key-2"}

    def to_loopback(request):
        return httpx.Response(302, headers={"location": "http://127.0.0.1:8002/api/v1/chain"})
    with pytest.raises(DidResolutionError, match="private or local"):
        run(DID, to_loopback)


# --- the cache -------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_answers_for_its_ttl_and_not_failures():
    clock = Clock()
    cache = KeyCache(ttl=60, maxsize=8, clock=clock)
    seen: list[str] = []
    doc = document()
    assert run(DID, serving(doc, seen), cache=cache) == run(DID, serving(doc, seen), cache=cache)
    assert len(seen) == 1
    clock.now += 59.9
    run(DID, serving(doc, seen), cache=cache)
    assert len(seen) == 1
    clock.now += 0.2
    run(DID, serving(doc, seen), cache=cache)
    assert len(seen) == 2

    hit = run(DID, serving(doc, seen), cache=cache)
    hit.clear()  # a caller changing its answer does not change the cache
    assert run(DID, serving(doc, seen), cache=cache)

    other = "did:web:issuer.example:down"
    for _ in range(2):
        with pytest.raises(DidResolutionError):
            run(other, serving({}, seen, status=503), cache=cache)
    assert len(seen) == 4  # failures are fetched again


def test_the_cache_is_bounded_and_keyed_by_how_the_did_was_read():
    clock = Clock()
    cache = KeyCache(ttl=60, maxsize=3, clock=clock)
    for i in range(5):
        did = f"did:web:issuer.example:u{i}"
        run(did, serving(document(did)), cache=cache)
    assert len(cache) == 3
    seen: list[str] = []
    run("did:web:issuer.example:u0", serving(document("did:web:issuer.example:u0"), seen), cache=cache)
    assert seen  # evicted (least recently used)
    clock.now += 61
    run("did:web:issuer.example:u9", serving(document("did:web:issuer.example:u9")), cache=cache)
    assert len(cache) == 1  # expired entries go

    did = "did:web:localhost%3A8123"
    cache.put((did, False, frozenset()), {f"{did}#key-1": KEY})
    seen = []
    keys = run(did, serving(document(did), seen), trusted=(), allow_http_loopback=True, cache=cache)
    assert seen and len(keys) == 2  # an answer read under other rules is not reused
    with pytest.raises(ValueError):
        KeyCache(ttl=1, maxsize=0)


def test_keys_from_document_does_not_change_the_document():
    doc = document()
    before = copy.deepcopy(doc)
    keys_from_document(DID, doc)
    assert doc == before

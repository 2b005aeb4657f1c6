"""The fast path of canonicalisation (services/core/compactrdf.py) writes what pyld writes.

The reference is stock pyld (``pyld.normalize``, no safe mode, none of our code) for what
is accepted, and our full pyld path (``canonicalize(..., fast=False)``) for everything: the
same N-Quads, or the same refusal with the same message. Checked on generated OB 3.0 /
VC 2.0 credentials (hypothesis), on every graph-preserving rewriting the compact-form tests
use, and on the hostile shapes of the RDFC budget tests. And the fast path must really be
taken for credentials, or none of this would test it.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld

from services.core import compactrdf
from services.core.jsonld import (
    MAX_TYPES,
    CanonicalizationBudgetError,
    JsonLdDocumentError,
    _BudgetedRDFC,
    _SafeProcessor,
    bundled_contexts,
    canonicalize,
    default_loader,
)
from tests.support.credential_corpus import corpus, credential
from tests.unit import test_jsonld_rewritings as rewritings

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "interop" / "ob3-credential.json"
VECTORS = REPO.parent / "shared" / "reference" / "vc-di-eddsa"
_CONTEXTS = bundled_contexts()


def stock(document: dict[str, Any]) -> str:
    """Stock pyld's canonical N-Quads (no safe mode, no fast path, none of our code)."""
    def loader(url: str, options: Any = None) -> dict[str, Any]:
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(_CONTEXTS[url])}

    return pyld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                     "documentLoader": loader})


def outcome(document: dict[str, Any], fast: bool) -> tuple[str, str]:
    try:
        return "nquads", canonicalize(copy.deepcopy(document), fast=fast)
    except JsonLdDocumentError as error:
        return type(error).__name__, str(error)


def takes_fast_path(document: dict[str, Any]) -> bool:
    loader = default_loader()
    processor = _SafeProcessor(loader.processed_contexts, loader.compact_terms)
    options = {"documentLoader": loader, "contextResolver": loader.resolver(), "base": None,
               "processingMode": "json-ld-1.1", "isFrame": False}
    return compactrdf.quads(document, processor, loader.compiled, options,
                            processor._get_initial_context(options), MAX_TYPES) is not None


def assert_same(document: dict[str, Any]) -> None:
    fast, full = outcome(document, True), outcome(document, False)
    assert fast == full
    if fast[0] == "nquads":
        assert fast[1] == stock(document)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_generated_credentials_canonicalise_as_pyld_does(rng):
    assert_same(credential(rng))


def test_the_fast_path_is_taken_for_credentials():
    documents = corpus(seed=11, count=60)
    taken = [takes_fast_path(document) for document in documents]
    assert takes_fast_path(json.loads(FIXTURE.read_text()))
    assert sum(taken) >= 0.6 * len(documents), sum(taken)
    # and what it writes is stock pyld's, byte for byte
    for document, fast in zip(documents, taken, strict=True):
        if fast:
            assert canonicalize(document) == stock(document)


def test_alike_blank_nodes_go_to_the_budgeted_rdfc_and_still_match():
    document = json.loads(FIXTURE.read_text())
    alignment = document["credentialSubject"]["achievement"]["alignment"][0]
    document["credentialSubject"]["achievement"]["alignment"] = [dict(alignment, targetName=f"Skill {i % 2}")
                                                                 for i in range(4)]
    document["evidence"] = [{"type": ["Evidence"], "name": "Essay"}, {"type": ["Evidence"], "name": "Essay"}]
    assert takes_fast_path(document)
    rdfc = _BudgetedRDFC()
    assert compactrdf.canonical_nquads(_quads(document), rdfc) == stock(document)
    assert rdfc.left < rdfc.budget  # alike at first degree: Hash N-Degree Quads ran, and was counted
    assert_same(document)


def _alike_shapes() -> list[dict[str, Any]]:
    """Alike objects without ids under a node with an IRI (evidence), under a blank node (the
    subject's identifiers and results), nested (alignments in alike results), and mixed."""
    shapes = []
    for evidence, identifiers, results, nested in [(40, 0, 0, 0), (0, 30, 0, 0), (0, 0, 12, 0), (3, 5, 4, 0),
                                                   (0, 0, 2, 3), (10, 10, 3, 2), (0, 60, 0, 0)]:
        document = json.loads(FIXTURE.read_text())
        subject = document["credentialSubject"]
        if evidence:
            document["evidence"] = [{} for _ in range(evidence // 2)] + [
                {"type": ["Evidence"], "name": "Essay"} for _ in range(evidence - evidence // 2)]
        if identifiers:
            subject["identifier"] = [dict(subject["identifier"][0]) for _ in range(identifiers)]
        if results or nested:
            subject["result"] = [{"type": ["Result"], "alignment": [
                {"type": ["Alignment"], "targetName": "x", "targetUrl": "https://x.example/"} for _ in range(nested)]}
                if nested else {"type": ["Result"]} for _ in range(max(results, 1))]
        shapes.append(document)
    return shapes


@pytest.mark.parametrize("document", _alike_shapes(), ids=lambda _: "")
def test_alike_nodes_ordered_on_the_fast_path_write_and_charge_what_pyld_does(document):
    """The fast path's own Hash N-Degree Quads for nodes whose neighbours are labelled already
    (compactrdf._shallow_hash): the same N-Quads as stock pyld, and the same budget spent, or
    refused alike, as pyld's main loop over the same quads with the ported algorithm."""
    assert takes_fast_path(document)
    quads = _quads(document)
    ours, theirs = _BudgetedRDFC(budget=10**6), _BudgetedRDFC(budget=10**6)
    fast = compactrdf.canonical_nquads(quads, ours)
    assert fast == theirs.main(compactrdf.pyld_dataset(quads), {"format": "application/n-quads"}) == stock(document)
    assert ours.left == theirs.left < 10**6
    spent = 10**6 - ours.left
    assert outcome(document, True) == outcome(document, False)
    with pytest.raises(CanonicalizationBudgetError):
        compactrdf.canonical_nquads(quads, _BudgetedRDFC(budget=spent - 1))
    assert compactrdf.canonical_nquads(quads, _BudgetedRDFC(budget=spent)) == fast


def test_the_budget_still_stops_a_symmetric_tree_on_the_fast_path():
    document = json.loads(FIXTURE.read_text())
    document["credentialSubject"]["result"] = [
        {"type": ["Result"], "alignment": [{"type": ["Alignment"], "targetName": "x", "targetUrl": "https://x.example/"}
                                           for _ in range(8)]} for _ in range(2)]
    assert takes_fast_path(document)
    with pytest.raises(CanonicalizationBudgetError):
        compactrdf.canonical_nquads(_quads(document), _BudgetedRDFC())
    assert outcome(document, True) == outcome(document, False)
    assert outcome(document, True)[0] == "CanonicalizationBudgetError"


def _quads(document: dict[str, Any]) -> list[tuple]:
    loader = default_loader()
    processor = _SafeProcessor(loader.processed_contexts, loader.compact_terms)
    options = {"documentLoader": loader, "contextResolver": loader.resolver(), "base": None,
               "processingMode": "json-ld-1.1", "isFrame": False}
    return compactrdf.quads(document, processor, loader.compiled, options, processor._get_initial_context(options),
                            MAX_TYPES)


@pytest.mark.parametrize("name", sorted(rewritings.REWRITINGS))
def test_every_graph_preserving_rewriting_is_refused_by_both_paths_alike(name):
    document = rewritings.signed()
    rewritings.REWRITINGS[name][0](document)
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    fast, full = outcome(unsecured, True), outcome(unsecured, False)
    assert fast == full
    assert fast[0] != "nquads"


@pytest.mark.parametrize("change", [
    lambda d: d.update(foo=1),
    lambda d: d["credentialSubject"]["achievement"].update(level="advanced"),
    lambda d: d["credentialSubject"]["achievement"].update(id="achievements/1"),
    lambda d: d["credentialSubject"]["achievement"].update(id="_:b0"),
    lambda d: d.update(type=["VerifiableCredential", "Fancy"]),
    lambda d: d.update(type=["VerifiableCredential", "https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential"]),
    lambda d: d.update(validUntil=None),
    lambda d: d.update(name=["Critical Thinking", "Critical Thinking"]),
    lambda d: d.update(name=[]),
    lambda d: d.update(name=1.5),
    lambda d: d.update(name=10**30),
    lambda d: d.update(name=True),
    lambda d: d["issuer"].update(id="relative/issuer"),
    lambda d: d["issuer"].update(url="not a url"),
    lambda d: d["credentialSubject"]["achievement"].update(image={}),
    lambda d: d["credentialSubject"]["achievement"].update(image="images/1.png"),
    lambda d: d["credentialSubject"]["achievement"].update(creator={"id": d["issuer"]["id"]}),
    lambda d: d["credentialSubject"].update(identifier=[{}, {}, {}]),
    lambda d: d["credentialSubject"].update(identifier=[]),
    lambda d: d["credentialSubject"]["achievement"].update(creator=dict(d["issuer"])),
    lambda d: d["credentialSubject"]["achievement"].update(creator=dict(d["issuer"], name="Another name")),
    lambda d: d["credentialSubject"]["achievement"].update(tag=["a", "b", "a"], alignment=[
        d["credentialSubject"]["achievement"]["alignment"][0]] * 3),
    lambda d: d.update(evidence=[{"id": "https://e.example/1", "type": ["Evidence"], "name": "A"},
                                 {"id": "https://e.example/1", "type": "Evidence", "name": ["A", "B"]}]),
    lambda d: d.update(evidence=[{"id": "https://e.example/1", "type": [f"Type{i}" for i in range(10)]},
                                 {"id": "https://e.example/1", "type": [f"Other{i}" for i in range(10)]}]),
    lambda d: d.update(evidence=[{"id": "https://e.example/1", "type": ["Evidence"]}] * 2),
    lambda d: d["credentialSubject"]["achievement"].update(type=[f"Type{i}" for i in range(20)]),
    lambda d: d["credentialSubject"]["achievement"].update(achievementType="https://example.org/kinds#Custom"),
    lambda d: d["credentialSubject"]["achievement"].update(achievementType="ext:Custom"),
    lambda d: d.update({"@context": d["@context"][0]}),
    lambda d: d.update({"@context": [d["@context"][0], "https://unknown.example/context.json"]}),
    lambda d: d.update({"@context": d["@context"] + [{"foo": "https://example.org/foo"}], "foo": "x"}),
], ids=lambda _: "")
def test_edge_cases_come_out_the_same_either_way(change):
    document = json.loads(FIXTURE.read_text())
    change(document)
    assert_same(document)


def test_the_w3c_vectors_canonicalise_the_same_either_way():
    if not VECTORS.is_dir():
        pytest.skip(f"W3C vc-di-eddsa vectors not found at {VECTORS}")
    # (test_eddsa_vectors.py checks the bytes against the W3C's own; this, that both paths agree)
    for name in ("unsigned.json", "eddsa-rdfc-2022/proofConfigDataInt.json"):
        document = json.loads((VECTORS / name).read_text())
        assert outcome(document, True) == outcome(document, False)
        assert outcome(document, True)[0] == "nquads"


def test_a_fixed_random_corpus_is_stable():
    """The corpus the jsonld.js cross-check uses is the same on every run."""
    assert corpus(seed=3, count=5) == corpus(seed=3, count=5)
    assert random.Random(3).random() == random.Random(3).random()


class _PyldHashNDegree(_BudgetedRDFC):
    """The budget charged around pyld's own Hash N-Degree Quads (what _BudgetedRDFC ported)."""

    def hash_n_degree_quads(self, id_, issuer):  # type: ignore[no-untyped-def]
        from pyld.canon import URDNA2015

        from services.core.jsonld import _QUAD_STEPS, _MeteredIssuer
        self._spend(1 + _QUAD_STEPS * len(self.blank_node_info[id_]["quads"]))
        if not isinstance(issuer, _MeteredIssuer):
            issuer = _MeteredIssuer(issuer, self._spend)
        return URDNA2015.hash_n_degree_quads(self, id_, issuer)


@pytest.mark.parametrize("nquads", [
    "".join(f"_:n{i} <https://x.example/p> _:n{j} .\n" for i in range(3) for j in range(3) if i != j),
    "".join(f"_:r{r} <https://x.example/a> _:a{r}{a} .\n_:a{r}{a} <https://x.example/n> \"x\" .\n"
            for r in range(2) for a in range(3)),
    "".join(f"_:s <https://x.example/e> _:e{i} .\n" for i in range(40)),
    "".join(f"_:g{i} <https://x.example/p> _:g{(i + 1) % 6} <https://x.example/graph> .\n" for i in range(6)),
])
def test_the_ported_hash_n_degree_quads_charges_and_writes_what_pyld_s_does(nquads):
    ours, theirs = _BudgetedRDFC(budget=10**6), _PyldHashNDegree(budget=10**6)
    assert ours.main(pyld.JsonLdProcessor.parse_nquads(nquads), {"format": "application/n-quads"}) == \
        theirs.main(pyld.JsonLdProcessor.parse_nquads(nquads), {"format": "application/n-quads"})
    assert ours.left == theirs.left < 10**6

"""Canonicalisation of one OB 3.0 credential: ours beside stock pyld and jsonld.js, same run.

Rows (CPU ms per credential, best of ``BENCH_ROUNDS`` rounds over ``BENCH_DOCS`` credentials
built as the issuer builds them, warm caches, one core):

* stock pyld 3.3 (``pyld.normalize``, static loader: its context cache keeps our contexts);
* ours, full path — pyld with our safe mode, compact-form checks, context memo and work
  budget (``canonicalize(..., fast=False)``: what every document went through before);
* the candidates measured for the fast path: pyld's RDF from our full path handed to
  pyoxigraph's RDFC-1.0; our fast path's quads handed to pyoxigraph; our fast path with the
  RDFC-1.0 main loop done in place (``canonicalize``, the one chosen);
* jsonld.js (``bench/canonize.mjs``, ``safe: true``), when node and node_modules are there;
* the proof configuration (what each eddsa-rdfc-2022 signature canonicalises as well).

Each candidate's output is checked against stock pyld's before it is timed. Prints the ratios
to stock pyld, to jsonld.js and to the full path.

    python -m bench canonicalization     (BENCH_DOCS=200, BENCH_ROUNDS=5)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCS = int(os.environ.get("BENCH_DOCS", "200"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def _documents(count: int) -> list[dict[str, Any]]:
    from bench.samples import credential_builder

    build = credential_builder(status_lists="https://issuer.example/public/status/bench")
    return [build(i) for i in range(count)]


def _best_ms(fn: Callable[[dict], Any], documents: list[dict]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for document in documents:
            fn(document)
        best = min(best, time.process_time() - start)
    return best * 1000 / len(documents)


def _stock() -> Callable[[dict], str]:
    from pyld import jsonld as pyld

    from services.core.jsonld import StaticDocumentLoader

    loader = StaticDocumentLoader()
    return lambda document: pyld.normalize(document, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                                      "documentLoader": loader})


def _oxigraph_candidates() -> dict[str, Callable[[dict], str]]:
    """pyoxigraph's RDFC-1.0 fed by our full path (pyld's RDF) and by our fast path's quads."""
    try:
        import pyoxigraph as ox
    except ImportError:
        return {}
    from services.core import compactrdf
    from services.core.jsonld import MAX_TYPES, _SafeProcessor, check_size, default_loader

    loader = default_loader()
    default_graph = ox.DefaultGraph()

    def options() -> dict[str, Any]:
        return {"documentLoader": loader, "contextResolver": loader.resolver(), "base": None,
                "processingMode": "json-ld-1.1", "produceGeneralizedRdf": False, "extractAllScripts": True}

    def term(component: dict[str, str]) -> Any:
        if component["type"] == "IRI":
            return ox.NamedNode(component["value"])
        if component["type"] == "blank node":
            return ox.BlankNode(component["value"][2:])
        return ox.Literal(component["value"], datatype=ox.NamedNode(component["datatype"]))

    def canonical(quads: list) -> str:
        dataset = ox.Dataset(quads)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        lines = ox.serialize(dataset, format=ox.RdfFormat.N_QUADS).decode("utf-8").splitlines(keepends=True)
        return "".join(sorted(lines))

    def from_full_path(document: dict) -> str:
        check_size(document)
        dataset = _SafeProcessor(loader.processed_contexts, loader.compact_terms).to_rdf(document, options())
        return canonical([ox.Quad(term(t["subject"]), term(t["predicate"]), term(t["object"]), default_graph)
                          for t in dataset["@default"]])

    def from_fast_path(document: dict) -> str:
        check_size(document)
        processor = _SafeProcessor(loader.processed_contexts, loader.compact_terms)
        opts = {**options(), "isFrame": False}
        quads = compactrdf.quads(document, processor, loader.compiled, opts, processor._get_initial_context(opts),
                                 MAX_TYPES)
        dataset = compactrdf.pyld_dataset(quads)
        return canonical([ox.Quad(term(t["subject"]), term(t["predicate"]), term(t["object"]), default_graph)
                          for t in dataset["@default"]])

    return {"pyld RDF (our full path) + pyoxigraph RDFC-1.0": from_full_path,
            "our fast path's quads + pyoxigraph RDFC-1.0": from_fast_path}


def _jsonld_js(documents: list[dict]) -> tuple[float | None, list[str] | None, str]:
    if shutil.which("node") is None:
        return None, None, "node is not installed"
    if not (REPO / "node_modules" / "jsonld").is_dir():
        return None, None, "node_modules lacks jsonld (npm ci)"
    run = subprocess.run(["node", str(REPO / "bench" / "canonize.mjs")], input=json.dumps(
        {"documents": documents, "rounds": ROUNDS}), capture_output=True, text=True, timeout=600, cwd=REPO)
    if run.returncode != 0:
        return None, None, run.stderr.strip().splitlines()[-1] if run.stderr else "failed"
    out = json.loads(run.stdout)
    return min(out["ms"]), out["nquads"], ""


def main() -> None:
    from services.core import dataintegrity
    from services.core.jsonld import canonicalize

    documents = _documents(DOCS)
    stock = _stock()
    reference = [stock(document) for document in documents]
    candidates: dict[str, Callable[[dict], str]] = {
        "stock pyld 3.3 (static loader)": stock,
        "ours, full path (pyld + safe mode + memo; before)": lambda d: canonicalize(d, fast=False),
        **_oxigraph_candidates(),
        "ours, fast path (chosen: canonicalize)": canonicalize,
    }
    rows: list[tuple[str, float, str]] = []
    for name, fn in candidates.items():
        same = all(fn(document) == expected for document, expected in zip(documents, reference, strict=True))
        rows.append((name, _best_ms(fn, documents), "identical" if same else "DIFFERS from stock pyld"))
    js_ms, js_nquads, js_note = _jsonld_js(documents)
    if js_ms is not None:
        same = js_nquads == reference
        rows.append(("jsonld.js (safe: true)", js_ms, "identical" if same else "DIFFERS from stock pyld"))

    config = dataintegrity.proof_config(documents[0], {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022",
                                                       "created": "2026-11-22T10:00:00Z",
                                                       "verificationMethod": "did:web:x#key-1",
                                                       "proofPurpose": "assertionMethod"})
    configs = [config] * len(documents)
    proof_rows = [("proof configuration, full path", _best_ms(lambda d: canonicalize(d, fast=False), configs)),
                  ("proof configuration, fast path", _best_ms(canonicalize, configs))]

    width = max(len(r[0]) for r in rows + [(p[0], 0, "") for p in proof_rows])
    stock_ms = rows[0][1]
    full_ms = rows[1][1]
    print(f"{len(documents)} credentials, CPU ms each, best of {ROUNDS} rounds, one core")
    print(f"{'canonicalise one OB 3.0 credential':<{width}}  {'ms':>7}  {'per s':>7}  {'× stock':>7}  "
          f"{'× full':>7}  {'× js':>6}  output")
    for name, ms, note in rows:
        js = f"{ms / js_ms:6.2f}" if js_ms else "     -"
        print(f"{name:<{width}}  {ms:7.3f}  {1000 / ms:7,.0f}  {ms / stock_ms:7.2f}  {ms / full_ms:7.2f}  {js}  {note}")
    for name, ms in proof_rows:
        print(f"{name:<{width}}  {ms:7.3f}  {1000 / ms:7,.0f}")
    chosen = rows[len(candidates) - 1][1]
    print(f"\nspeed-up of the chosen path over the full path: {full_ms / chosen:.2f}×  (target ≥ 2.5×)")
    if js_ms:
        print(f"chosen / jsonld.js: {chosen / js_ms:.2f}   full path / jsonld.js: {full_ms / js_ms:.2f}")
    else:
        print(f"jsonld.js not measured: {js_note}")


if __name__ == "__main__":
    main()

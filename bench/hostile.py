"""Hostile input stays cheap: a normal verification next to the costliest documents we accept.

Every row is ``document_verdict`` (services/verifier/checker.py) — shape, strict safe-mode
RDFC-1.0 of the document and of the proof configuration, Ed25519 — the CPU work the verifier
does for a pasted or posted credential, best of several runs, warm caches, one core:

* a normal credential (the interop fixture with one piece of evidence);
* the largest credential our issuer can build (its API's maxima: 50 alignments, 50 tags,
  20 pieces of evidence, every field: about 730 values, refused), and its largest achievement
  without evidence (accepted);
* accepted: the most JSON values the limits allow in the costliest shapes we found (typed
  objects with many fields; empty objects, which are all alike, so RDFC-1.0 must compare them
  — as many as fit the work budget), the deepest nesting, one node spread over 64 objects
  (its lists merge), a symmetric structure that spends RDFC budget, the longest texts that
  fit the verifier's 256 kB;
* refused: the same empty objects beyond the budget, blank-node cliques (7, 8, 20 nodes
  through ``issuer.parentOrg``), a symmetric tree over the budget, 6,000 and 90,000 tags;
  and the cliques as bare N-Quads straight into the budgeted canonicaliser.

Prints each cost and its ratio to the normal verification (target: ≤ 10× for anything
accepted). Before these limits a 7-node clique cost 4.1 s, 8 nodes 76.8 s, 6,000 tags 11–17 s.

    python -m bench.hostile        (BENCH_REPEAT: runs per row, best taken, default 15)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import dataintegrity, multiformats
from services.core.credential import MAX_DEPTH, MAX_STRING
from services.core.jsonld import (
    MAX_ARRAY_ITEMS,
    MAX_VALUES,
    JsonLdDocumentError,
    canonicalize_nquads,
)
from services.verifier.checker import MAX_CREDENTIAL_BYTES, document_verdict

REPEAT = int(os.environ.get("BENCH_REPEAT", "15"))
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "interop" / "ob3-credential.json"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
MULTIKEY = multiformats.encode_public_key(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
VM = f"did:key:{MULTIKEY}#{MULTIKEY}"
PARENT_ORG = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#parentOrg"
FAKE_PROOF = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "created": "2026-11-22T10:00:00Z",
              "verificationMethod": VM, "proofPurpose": "assertionMethod",
              "proofValue": multiformats.multibase_encode(bytes(64))}


def _base() -> dict[str, Any]:
    document = json.loads(FIXTURE.read_text())
    document["evidence"] = [{"id": "https://lakeside.example.edu/evidence/1", "type": ["Evidence"],
                             "name": "Capstone essay", "narrative": "Graded by two assessors."}]
    return document


def _sign(document: dict[str, Any]) -> dict[str, Any]:
    try:
        return dataintegrity.sign(document, KEY, VM, "2026-11-22T10:00:00Z")
    except JsonLdDocumentError:
        return {**document, "proof": FAKE_PROOF}  # refused anyway: no signature to make


def _values(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_values(v) for v in value)
    return 1


def _alignment(i: int) -> dict[str, Any]:
    return {"type": ["Alignment"], "targetName": f"Skill {i}", "targetUrl": f"https://skills.example/{i}",
            "targetFramework": "ESCO", "targetCode": f"S{i}", "targetDescription": f"Skill number {i}.",
            "targetType": "ext:ESCOSkill"}


def _fill(document: dict[str, Any], arrays: list[list], limit: int) -> dict[str, Any]:
    """Trim the arrays, last first, until the document is within ``limit`` values."""
    for array in reversed(arrays):
        while _values(document) > limit and array:
            array.pop()
    return document


def issuer_maximum(evidence: int = 20) -> dict[str, Any]:
    """What our issuer builds at its API's maxima (services/issuer/schemas.py)."""
    from services.issuer.credentials import document as cred

    profile = cred.profile_document(cred.ProfileData(did="did:web:issuer.example:issuers:max", name="Max College",
                                                     url="https://max.example", email="a@max.example"))
    achievement = cred.achievement_document(cred.AchievementData(
        id_url="https://issuer.example/public/achievements/ach_max", name="Everything",
        description="Every field the issuer allows.", criteria_narrative="All of it.",
        achievement_type="MicroCredential", tags=[f"tag {i}" for i in range(50)],
        alignment=[{k: v for k, v in _alignment(i).items() if k != "type"} for i in range(50)]))
    evidence = [{"id": f"https://max.example/evidence/{i}", "name": f"Evidence {i}", "description": "Described.",
                 "narrative": "Narrated.", "genre": "Essay", "audience": "Assessors"} for i in range(evidence)]
    return cred.build_credential(credential_id=cred.new_credential_id(), public_base_url="https://verify.example",
                                 profile=profile, achievement=achievement, recipient_name="Learner",
                                 recipient_email="l@example.org", salt=cred.new_salt(),
                                 valid_from=datetime(2026, 11, 22, tzinfo=UTC), valid_until=None,
                                 evidence=evidence or None)


def max_values_objects() -> dict[str, Any]:
    """As many JSON values as allowed, as many typed objects with many fields as fit."""
    document = _base()
    achievement = document["credentialSubject"]["achievement"]
    achievement["alignment"] = [_alignment(i) for i in range(MAX_ARRAY_ITEMS)]
    achievement["tag"] = [f"tag {i}" for i in range(MAX_ARRAY_ITEMS)]
    document["credentialSubject"]["identifier"] = [
        {"type": "IdentityObject", "identityType": "emailAddress", "hashed": True,
         "identityHash": f"sha256${i:064x}", "salt": f"salt{i}"} for i in range(MAX_ARRAY_ITEMS)]
    document["evidence"] = [{"id": f"https://x.example/e/{i}", "type": ["Evidence"], "name": f"E{i}",
                             "narrative": "n", "description": "d", "genre": "g", "audience": "a"}
                            for i in range(MAX_ARRAY_ITEMS)]
    arrays = [achievement["alignment"], achievement["tag"], document["credentialSubject"]["identifier"],
              document["evidence"]]
    return _fill(document, arrays, MAX_VALUES - 12)  # room for the proof


def max_blank_nodes(count: int | None = None) -> dict[str, Any]:
    """Many blank nodes, all alike (empty objects in every array that takes objects), so that
    RDFC-1.0 has to compare every one: as many as the value limit allows, or ``count``."""
    document = _base()
    subject = document["credentialSubject"]
    achievement = subject["achievement"]
    slots = [(document, "evidence"), (subject, "identifier"), (subject, "result"), (achievement, "alignment"),
             (achievement, "otherIdentifier"), (achievement, "related"), (achievement, "resultDescription"),
             (document["issuer"], "otherIdentifier"), (document, "termsOfUse"), (document, "refreshService"),
             (document, "credentialSchema"), (document, "endorsement"), (subject, "source"),
             (document["issuer"], "address"), (achievement, "creator")]
    budget = MAX_VALUES - 12 - _values(document)
    left = budget if count is None else count
    for parent, key in slots:
        take = min(MAX_ARRAY_ITEMS - 1, budget - 1, left)
        if take <= 0:
            break
        parent[key] = [{} for _ in range(take)]
        budget -= take + 1
        left -= take
    return document


def max_blank_nodes_accepted() -> dict[str, Any]:
    """The most alike blank nodes that pass both the value limit and the RDFC-1.0 budget."""
    count = MAX_VALUES
    while count > 0:
        document = max_blank_nodes(count)
        if document_verdict(_sign(document)).signature_valid:
            return document
        count -= 8
    return max_blank_nodes(0)


def deepest() -> dict[str, Any]:
    document = _base()
    node = document["issuer"]
    for i in range(MAX_DEPTH // 2 - 1):  # each level is an object and its key
        node["parentOrg"] = {"id": f"https://org.example/{i}", "type": ["Profile"], "name": f"Org {i}"}
        node = node["parentOrg"]
    return document


def one_node_in_many_objects() -> dict[str, Any]:
    """The same IRI in 64 evidence objects, each with its own names: pyld merges them into one node."""
    document = _base()
    per = (MAX_VALUES - 150) // MAX_ARRAY_ITEMS - 4
    document["evidence"] = [{"id": "https://x.example/e/1", "type": ["Evidence"],
                             "name": [f"name {i}.{j}" for j in range(per)]} for i in range(MAX_ARRAY_ITEMS)]
    return document


def symmetric_tree(results: int, alignments: int) -> dict[str, Any]:
    """Identical results, each with identical alignments: RDFC-1.0 tries their permutations."""
    document = _base()
    document["credentialSubject"]["result"] = [
        {"type": ["Result"], "alignment": [{"type": ["Alignment"], "targetName": "x", "targetUrl": "https://x.example/"}
                                           for _ in range(alignments)]} for _ in range(results)]
    return document


def longest_texts() -> dict[str, Any]:
    document = _base()
    text = ('Quote " backslash \\ newline \n tab \t é 山 ' * 1000)[: MAX_STRING]
    room = MAX_CREDENTIAL_BYTES - len(json.dumps(document).encode()) - 2_000
    count = room // (len(json.dumps(text).encode()) + 40)
    document["credentialSubject"]["achievement"]["tag"] = [text[: len(text) - i - 1] for i in range(count)]
    return document


def clique(size: int) -> dict[str, Any]:
    """``size`` blank nodes through issuer.parentOrg, each the parent of every other."""
    document = _base()
    document["issuer"]["parentOrg"] = [
        {"id": f"_:org{i}", "type": ["Profile"], "name": "Org",
         "parentOrg": [{"id": f"_:org{j}"} for j in range(size) if j != i]} for i in range(size)]
    return document


def tags(count: int) -> dict[str, Any]:
    document = _base()
    document["credentialSubject"]["achievement"]["tag"] = [f"tag {i}" for i in range(count)]
    return document


def clique_nquads(size: int) -> str:
    return "".join(f"_:n{i} <{PARENT_ORG}> _:n{j} .\n" for i in range(size) for j in range(size) if i != j)


def _time(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000, result


def main() -> None:
    normal = _sign(_base())
    assert document_verdict(normal).signature_valid
    for _ in range(50):
        document_verdict(normal)  # warm the context caches
    normal_ms, _ = _time(lambda: document_verdict(normal), max(REPEAT, 100))

    documents: list[tuple[str, dict[str, Any]]] = [
        ("issuer's own maximum (50 alignments, 50 tags, 20 evidence)", issuer_maximum()),
        (f"most values: {MAX_ARRAY_ITEMS} alignments, tags, identifiers, evidence", max_values_objects()),
        ("issuer's largest achievement, no evidence", issuer_maximum(evidence=0)),
        ("most blank nodes, all alike, within the RDFC budget", max_blank_nodes_accepted()),
        ("most blank nodes, all alike, the value limit allows", max_blank_nodes()),
        (f"deepest nesting ({MAX_DEPTH})", deepest()),
        ("one IRI in 64 objects (lists merge)", one_node_in_many_objects()),
        ("symmetric: 2 results x 3 alignments", symmetric_tree(2, 3)),
        ("longest texts within 256 kB", longest_texts()),
        ("clique of 7 blank nodes (issuer.parentOrg)", clique(7)),
        ("clique of 8 blank nodes", clique(8)),
        ("clique of 20 blank nodes", clique(20)),
        ("symmetric: 2 results x 8 alignments", symmetric_tree(2, 8)),
        ("6,000 tags", tags(6_000)),
        ("90,000 tags", tags(90_000)),
    ]
    rows = []
    worst_accepted = 0.0
    for name, document in documents:
        signed = _sign(document)
        ms, verdict = _time(lambda signed=signed: document_verdict(signed))
        accepted = verdict.format_error is None and bool(verdict.signature_valid)
        if accepted:
            worst_accepted = max(worst_accepted, ms / normal_ms)
        outcome = "accepted" if accepted else f"refused: {verdict.format_error or verdict.signature_error}"
        rows.append((name, _values(signed), ms, outcome))
    for size in (7, 8, 20):
        nquads = clique_nquads(size)

        def run(nquads: str = nquads) -> str:
            try:
                canonicalize_nquads(nquads)
            except JsonLdDocumentError as error:
                return f"refused: {error}"
            return "accepted"
        ms, outcome = _time(run)
        rows.append((f"clique of {size}, bare N-Quads (parsed too) into RDFC-1.0", size * (size - 1), ms, outcome))

    width = max(len(r[0]) for r in rows)
    print(f"normal verification (document_verdict): {normal_ms:.2f} ms\n")
    print(f"{'document':<{width}}  {'values':>7}  {'ms':>8}  {'x normal':>8}  outcome  (values: quads for N-Quads)")
    for name, values, ms, outcome in rows:
        print(f"{name:<{width}}  {values:>7,}  {ms:>8.2f}  {ms / normal_ms:>8.1f}  {outcome[:110]}")
    print(f"\ncostliest accepted document / normal verification = {worst_accepted:.1f}x  (target ≤ 10x)")
    print(f"limits: {MAX_VALUES:,} JSON values, {MAX_ARRAY_ITEMS} items per array, depth {MAX_DEPTH}, "
          f"{MAX_STRING:,} characters per text ({MAX_CREDENTIAL_BYTES:,} bytes per credential)")


if __name__ == "__main__":
    main()

"""A pathway credential's components as the verifier reads and reports them (services/verifier/components.py)."""

from __future__ import annotations

import asyncio
import base64

from services.core.verification import Check, Report, component_problems
from services.core.multiformats import sha256_from_digest_multibase
from services.verifier import components

HASH_A = "0x" + "aa" * 32
HASH_B = "0x" + "bb" * 32


def digest(h: str) -> str:
    return "u" + base64.urlsafe_b64encode(b"\x12\x20" + bytes.fromhex(h[2:])).decode().rstrip("=")


def credential(*entries) -> dict:
    return {"evidence": [{"type": ["Evidence"], "id": url, "name": name, "digestMultibase": digest(h)}
                         for url, name, h in entries]}


def report(status: str) -> Report:
    return Report(status=status, checks=[Check("format", "passed", "ok"),
                                         Check("revocation", "failed" if status == "revoked" else "passed",
                                               "revoked by the issuer" if status == "revoked" else "not revoked")])


def test_references_take_only_evidence_with_a_sha256_digest_and_a_url():
    doc = credential(("https://x.example/c/1", "Active Listening", HASH_A))
    doc["evidence"] += [{"id": "https://x.example/plain"}, {"id": "urn:uuid:1", "digestMultibase": digest(HASH_B)},
                        {"id": "https://x.example/c/2", "digestMultibase": "zNotOurs"}]
    assert components.references(doc) == [{"url": "https://x.example/c/1", "hash": HASH_A,
                                            "name": "Active Listening"}]
    assert sha256_from_digest_multibase(digest(HASH_B)) == HASH_B and sha256_from_digest_multibase("u" + "A" * 80) is None


def test_each_component_is_checked_and_a_revoked_or_substituted_one_is_reported():
    doc = credential(("https://x.example/c/1", "Active Listening", HASH_A),
                     ("https://x.example/c/2", "Compassion", HASH_B))
    answers = {"https://x.example/c/1": (report("valid"), {}, HASH_A, None),
               "https://x.example/c/2": (report("revoked"), {}, HASH_B, None)}

    async def verify(url, depth):
        assert depth == 1
        return answers[url]

    found = asyncio.run(components.check(doc, verify, 0, components.Budget()))
    assert [(c["name"], c["status"], c["verified"]) for c in found] == [
        ("Active Listening", "valid", True), ("Compassion", "revoked", False)]
    assert component_problems(found) == ["Compassion is revoked: revoked by the issuer"]
    answers["https://x.example/c/1"] = (report("valid"), {}, HASH_B, None)  # another credential at that URL
    found = asyncio.run(components.check(doc, verify, 0, components.Budget()))
    assert found[0]["status"] == "invalid" and "hash differs" in found[0]["reason"]


def test_depth_and_count_are_bounded():
    doc = credential(*[(f"https://x.example/c/{i}", None, "0x" + f"{i:064x}") for i in range(40)])

    async def verify(url, depth):
        return report("valid"), {}, "0x" + f"{int(url.rsplit('/', 1)[1]):064x}", None

    found = asyncio.run(components.check(doc, verify, 0, components.Budget()))
    assert sum(c["status"] == "valid" for c in found) == components.MAX_COMPONENTS
    assert all(c["status"] == "unavailable" for c in found[components.MAX_COMPONENTS:])
    deep = asyncio.run(components.check(doc, verify, components.MAX_DEPTH, components.Budget()))
    assert all(c["status"] == "unavailable" and "levels deep" in c["reason"] for c in deep)
    assert asyncio.run(components.check({"evidence": []}, verify, 0, components.Budget())) is None

"""Our Merkle trees against the two other implementations a verifier may use.

For trees of random credential hashes, every proof from ``services.core.merkle.MerkleTree``
must verify with the deployed contract's ``verifyInclusion`` (OpenZeppelin ``MerkleProof``
on chain) and with ``StandardMerkleTree.verify`` from ``@openzeppelin/merkle-tree`` (JS,
``node tests/interop/merkle_oz.mjs``), whose tree must have our root; and a tampered proof,
hash or root must fail on chain.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.core.merkle import MerkleTree, hash_pair, leaf_hash

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "interop" / "merkle_oz.mjs"
SIZES = (1, 2, 3, 5, 8, 33, 257)
TAMPER_SAMPLE = 6  # leaves per tree whose proof is tampered with in every way below


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def flip(b: bytes, bit: int = 0) -> bytes:
    return bytes([b[0] ^ (1 << bit)]) + b[1:]


def oz(trees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot cross-check with @openzeppelin/merkle-tree")
    if not (REPO / "node_modules" / "@openzeppelin" / "merkle-tree").is_dir():
        pytest.skip("node_modules lacks @openzeppelin/merkle-tree (run npm ci)")
    run = subprocess.run(["node", str(SCRIPT)], input=json.dumps({"trees": trees}), capture_output=True,
                         text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["trees"]


@pytest.fixture(scope="module")
def trees() -> dict[int, tuple[list[bytes], MerkleTree]]:
    out = {}
    for size in SIZES:
        hashes = [os.urandom(32) for _ in range(size)]
        out[size] = (hashes, MerkleTree.build(hashes))
    return out


@pytest.fixture(scope="module")
def included(devnet):
    """``verifyInclusion(root, proof, hash)`` of the deployed contract (a pure function: no state)."""
    verify = devnet.contract.functions.verifyInclusion
    return lambda root, proof, h: verify(root, proof, h).call()


@pytest.mark.parametrize("size", SIZES)
def test_every_proof_of_ours_verifies_on_chain(included, trees, size):
    hashes, tree = trees[size]
    assert [included(tree.root, tree.proof(h), h) for h in hashes] == [True] * size


@pytest.mark.parametrize("size", SIZES)
def test_tampered_proofs_hashes_and_roots_fail_on_chain(included, trees, size):
    hashes, tree = trees[size]
    for h in hashes[:TAMPER_SAMPLE]:
        proof = tree.proof(h)
        assert not included(tree.root, proof, flip(h)), "another hash"
        assert not included(flip(tree.root, 7), proof, h), "another root"
        assert not included(tree.root, proof + [os.urandom(32)], h), "a proof one step too long"
        if proof:
            assert not included(tree.root, proof[:-1], h), "a proof one step short"
            for i in range(len(proof)):
                bent = proof[:i] + [flip(proof[i], i % 8)] + proof[i + 1:]
                assert not included(tree.root, bent, h), f"proof element {i} changed"
        else:
            assert not included(tree.root, [tree.root], h), "a single leaf is its own root, no path"
        # a hash of the tree proven with another leaf's path
        for other in hashes:
            if other != h and tree.proof(other) != proof:
                assert not included(tree.root, tree.proof(other), h)
                break


@pytest.mark.parametrize("size", [s for s in SIZES if s > 1])
def test_an_inner_node_cannot_pass_for_a_credential_hash(included, trees, size):
    """Leaves are hashed twice: an inner node with the path above it is no proof."""
    hashes, tree = trees[size]
    proof = tree.proof(hashes[0])
    inner = hash_pair(leaf_hash(hashes[0]), proof[0])
    assert tree.root == inner or inner in tree.nodes
    assert not included(tree.root, proof[1:], inner)
    if len(proof) == 1:  # two leaves: the inner node is the root itself
        assert not included(inner, [], inner)


def test_openzeppelin_js_builds_our_roots_and_accepts_our_proofs(trees):
    ours = [(hashes, tree, [tree.proof(h) for h in hashes]) for hashes, tree in trees.values()]
    results = oz([{"values": [hx(h) for h in hashes], "proofs": [[hx(p) for p in proof] for proof in proofs]}
                  for hashes, _, proofs in ours])
    for (hashes, tree, proofs), result in zip(ours, results):
        assert result["root"] == hx(tree.root), f"size {len(hashes)}"
        assert result["verified"] == [True] * len(hashes), f"size {len(hashes)}"
        # and, with the same layout, OpenZeppelin gives the very same paths
        assert result["proofs"] == [[hx(p) for p in proof] for proof in proofs], f"size {len(hashes)}"


def test_openzeppelin_js_refuses_our_proofs_when_tampered(trees):
    hashes, tree = trees[33]
    proofs = [tree.proof(h) for h in hashes]
    bent = [[hx(flip(p[0]))] + [hx(x) for x in p[1:]] for p in proofs]
    short = [[hx(x) for x in p[:-1]] for p in proofs]
    results = oz([{"values": [hx(h) for h in hashes], "proofs": bent},
                  {"values": [hx(h) for h in hashes], "proofs": short},
                  {"values": [hx(h) for h in hashes], "proofs": [[hx(x) for x in p] for p in proofs],
                   "root": hx(flip(tree.root))}])
    for result in results:
        assert result["verified"] == [False] * len(hashes)

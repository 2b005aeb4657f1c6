"""The Merkle rules: every proof verifies, any change to leaf, path or root fails."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.merkle import MerkleError, MerkleTree, hash_pair, leaf_hash, process_proof, verify_proof

hash32 = st.binary(min_size=32, max_size=32)
hash_sets = st.lists(hash32, min_size=1, max_size=70, unique=True)


def _flip(value: bytes, bit: int) -> bytes:
    b = bytearray(value)
    b[(bit // 8) % 32] ^= 1 << (bit % 8)
    return bytes(b)


def test_leaf_is_double_keccak_of_the_abi_encoded_hash():
    h = bytes(range(32))
    assert leaf_hash(h) == keccak(keccak(h))


def test_inner_nodes_hash_the_sorted_pair():
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(a + b)


def test_single_leaf_tree_has_the_leaf_as_root_and_an_empty_proof():
    h = b"\x11" * 32
    tree = MerkleTree.build([h])
    assert tree.root == leaf_hash(h)
    assert tree.proof(h) == []
    assert verify_proof(tree.root, h, [])


def test_two_leaf_tree_root_is_the_pair_of_leaves():
    a, b = b"\x01" * 32, b"\x02" * 32
    tree = MerkleTree.build([a, b])
    assert tree.root == hash_pair(leaf_hash(a), leaf_hash(b))
    assert tree.proof(a) == [leaf_hash(b)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 100, 1000])
def test_every_leaf_of_every_size_verifies(size):
    hashes = [keccak(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree.build(hashes)
    for h in hashes:
        assert verify_proof(tree.root, h, tree.proof(h))


def test_root_does_not_depend_on_input_order():
    hashes = [keccak(bytes([i])) for i in range(13)]
    assert MerkleTree.build(hashes).root == MerkleTree.build(list(reversed(hashes))).root


def test_a_leaf_cannot_be_passed_off_as_an_inner_node():
    # The 64-byte preimage of an inner node, offered as a "credential hash", must not verify
    # as a shorter path: leaves are hashed twice, inner nodes once.
    hashes = [keccak(bytes([i])) for i in range(4)]
    tree = MerkleTree.build(hashes)
    inner = tree.nodes[1]
    assert not any(verify_proof(tree.root, inner, tree.proof(h)[1:]) for h in hashes)


def test_bad_input_is_refused():
    with pytest.raises(MerkleError):
        MerkleTree.build([])
    with pytest.raises(MerkleError):
        MerkleTree.build([b"short"])
    with pytest.raises(MerkleError):
        MerkleTree.build([b"\x01" * 32, b"\x01" * 32])
    with pytest.raises(MerkleError):
        MerkleTree.build([b"\x01" * 32]).proof(b"\x02" * 32)
    assert not verify_proof(b"\x00" * 32, b"\x01" * 32, [b"too short"])


@settings(max_examples=150, deadline=None)
@given(hash_sets, st.data())
def test_any_proof_verifies_and_any_change_breaks_it(hashes, data):
    tree = MerkleTree.build(hashes)
    h = data.draw(st.sampled_from(hashes))
    proof = tree.proof(h)
    assert verify_proof(tree.root, h, proof)
    assert process_proof(leaf_hash(h), proof) == tree.root
    bit = data.draw(st.integers(0, 255))
    # a changed leaf
    assert not verify_proof(tree.root, _flip(h, bit), proof)
    # a changed root
    assert not verify_proof(_flip(tree.root, bit), h, proof)
    if proof:
        # a changed, dropped or extra path element
        i = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_proof(tree.root, h, proof[:i] + [_flip(proof[i], bit)] + proof[i + 1:])
        assert not verify_proof(tree.root, h, proof[:-1])
    assert not verify_proof(tree.root, h, proof + [data.draw(hash32)])


@settings(max_examples=50, deadline=None)
@given(hash_sets, hash32)
def test_a_hash_outside_the_tree_never_verifies_with_any_members_proof(hashes, outsider):
    if outsider in hashes:
        return
    tree = MerkleTree.build(hashes)
    assert not any(verify_proof(tree.root, outsider, tree.proof(h)) for h in hashes)


def test_large_tree_of_ten_thousand():
    hashes = [keccak(i.to_bytes(4, "big")) for i in range(10_000)]
    tree = MerkleTree.build(hashes)
    assert len(tree) == 10_000
    for h in hashes[::997]:
        proof = tree.proof(h)
        assert len(proof) in (13, 14)
        assert verify_proof(tree.root, h, proof)

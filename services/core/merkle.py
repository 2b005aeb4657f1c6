"""The Merkle tree that anchors a batch of credential hashes under one root.

The rules are OpenZeppelin's ``StandardMerkleTree`` for a single ``bytes32`` column, so
that OpenZeppelin's ``MerkleProof`` (Solidity) and ``@openzeppelin/merkle-tree`` (JS)
verify our proofs unchanged, and build the very same root from the same hashes:

* leaf  = keccak256(keccak256(abi.encode(bytes32 credentialHash)))  — hashing twice
  means no 64-byte inner-node preimage can ever pass for a leaf;
* inner = keccak256(min(a, b) ‖ max(a, b))  — sorted pairs, so a proof is a plain list
  of siblings with no left/right flags;
* layout: leaves sorted ascending, stored at the end of a 2n-1 array in reverse order,
  node i's children at 2i+1 and 2i+2 (a complete binary tree in heap order).

docs/merkle.md has the byte-level rules and test vectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.core.keccak import keccak


class MerkleError(ValueError):
    """A tree or proof was asked for with bad input."""


def _check_hash(value: bytes, what: str = "credential hash") -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise MerkleError(f"{what} must be exactly 32 bytes")
    return bytes(value)


def leaf_hash(credential_hash: bytes) -> bytes:
    """The leaf for a credential hash; ``abi.encode(bytes32)`` is the 32 bytes themselves."""
    return keccak(keccak(_check_hash(credential_hash)))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An inner node: the keccak of the two children, smaller first."""
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: bytes, proof: Iterable[bytes]) -> bytes:
    """Fold a proof into the root it leads to from ``leaf`` (OpenZeppelin ``processProof``)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, _check_hash(sibling, "proof element"))
    return node


def verify_proof(root: bytes, credential_hash: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` leads from the credential's leaf to ``root``."""
    try:
        return process_proof(leaf_hash(credential_hash), proof) == _check_hash(root, "root")
    except MerkleError:
        return False


@dataclass(frozen=True)
class MerkleTree:
    """An immutable tree in heap order; build it with :meth:`build`."""

    nodes: tuple[bytes, ...]
    # leaf hash -> index of that leaf in ``nodes``
    positions: dict[bytes, int]

    @classmethod
    def build(cls, credential_hashes: Sequence[bytes]) -> MerkleTree:
        if not credential_hashes:
            raise MerkleError("a tree needs at least one credential hash")
        leaves = sorted(leaf_hash(h) for h in credential_hashes)
        if len(set(leaves)) != len(leaves):
            raise MerkleError("credential hashes in one tree must be distinct")
        size = 2 * len(leaves) - 1
        nodes: list[bytes] = [b""] * size
        for i, leaf in enumerate(leaves):
            nodes[size - 1 - i] = leaf
        for i in range(size - 1 - len(leaves), -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        positions = {leaf: size - 1 - i for i, leaf in enumerate(leaves)}
        return cls(nodes=tuple(nodes), positions=positions)

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def __len__(self) -> int:
        return len(self.positions)

    def proof(self, credential_hash: bytes) -> list[bytes]:
        """The siblings from the credential's leaf up to (not including) the root."""
        try:
            index = self.positions[leaf_hash(credential_hash)]
        except KeyError:
            raise MerkleError("credential hash is not in this tree") from None
        path: list[bytes] = []
        while index > 0:
            sibling = index - 1 if index % 2 == 0 else index + 1
            path.append(self.nodes[sibling])
            index = (index - 1) // 2
        return path

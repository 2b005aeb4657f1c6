"""docs/merkle.md's test vectors stay true to the code."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from services.core.merkle import MerkleTree, leaf_hash

DOC = Path(__file__).resolve().parents[2] / "docs" / "merkle.md"


def _table() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| (.+?) \| (.+) \|$", line)
        if m and "`" in m.group(2):
            rows[m.group(1)] = m.group(2)
    return rows


def _hexes(cell: str) -> list[str]:
    return re.findall(r"[0-9a-f]{64}", cell)


def test_documented_vectors_match_the_code():
    rows = _table()
    h = {i: hashlib.sha256(f"credential-{i}".encode()).digest() for i in (1, 2, 3)}
    for i in (1, 2, 3):
        assert _hexes(rows[f"h{i}"]) == [h[i].hex()]
        assert _hexes(rows[f"leaf(h{i})"]) == [leaf_hash(h[i]).hex()]
    assert _hexes(rows["root {h1}"]) == [MerkleTree.build([h[1]]).root.hex()]
    two = MerkleTree.build([h[1], h[2]])
    assert _hexes(rows["root {h1, h2}"]) == [two.root.hex()]
    assert _hexes(rows["proof of h1 in {h1, h2}"]) == [p.hex() for p in two.proof(h[1])]
    three = MerkleTree.build([h[1], h[2], h[3]])
    assert _hexes(rows["root {h1, h2, h3}"]) == [three.root.hex()]
    for i in (1, 2, 3):
        assert _hexes(rows[f"proof of h{i} in {{h1, h2, h3}}"]) == [p.hex() for p in three.proof(h[i])]

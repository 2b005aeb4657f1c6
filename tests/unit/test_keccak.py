"""Our Keccak-256 is Ethereum's: the same digests as eth-hash's reference backend, and known vectors."""

from eth_hash.backends.pycryptodome import keccak256 as reference
from hypothesis import given, strategies as st

from services.core.keccak import keccak


def test_known_vectors():
    # keccak256("") and keccak256("abc"), as Ethereum (and Solidity's keccak256) computes them;
    # NIST SHA3-256("") would be a7ffc6f8...
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


@given(st.binary(max_size=300))
def test_same_as_eth_hash(data):
    assert keccak(data) == reference(data)

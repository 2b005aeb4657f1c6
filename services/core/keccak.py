"""Keccak-256 as Ethereum uses it (the original padding, not NIST SHA3-256).

The Merkle proofs (services/core/merkle.py) and the status lists' on-chain ids hash with it on
every verification — a dozen or more calls each. eth-hash's default backend (pycryptodome)
spends ≈ 5 µs a call in its ctypes wrapper; safe-pysha3's C type ≈ 0.5 µs. Both compute the
same function (tests/unit/test_keccak.py); eth-hash stays the fallback where no wheel of
safe-pysha3 exists.
"""

from __future__ import annotations

try:
    from sha3 import keccak_256
except ImportError:  # pragma: no cover - a platform without safe-pysha3
    from eth_hash.auto import keccak
else:
    def keccak(data: bytes) -> bytes:
        """The 32-byte Keccak-256 digest of ``data``."""
        return keccak_256(data).digest()

__all__ = ["keccak"]

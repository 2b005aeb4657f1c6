"""Issuer signing keys (Ed25519) and their did:web identity: pure functions, no I/O.

The private key is a 32-byte seed sealed with the key-encryption key
(services.core.secretbox); the issuer id and public key are bound in as associated
data, so a sealed key copied onto another issuer's row does not open.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core import did as core_did, multiformats
from services.core.secretbox import open_sealed, seal

DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1",
                "https://w3id.org/security/suites/secp256k1recovery-2020/v2"]


@dataclass(frozen=True)
class NewKey:
    public_key: str  # 0x + 64 hex digits, as the registry and the contract take it
    multikey: str    # z6Mk…
    sealed: str


def _aad(issuer_id: str, public_key: str) -> str:
    return f"microcred:issuer:signing-key:{issuer_id}:{public_key}"


def _raw(private: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seed, public


def new_signing_key(key_encryption_key: str, issuer_id: str) -> NewKey:
    seed, public = _raw(Ed25519PrivateKey.generate())
    public_hex = "0x" + public.hex()
    return NewKey(public_hex, multiformats.encode_public_key(public),
                  seal(key_encryption_key, seed, _aad(issuer_id, public_hex)))


@lru_cache(maxsize=1024)
def open_seed(key_encryption_key: str, issuer_id: str, public_key: str, sealed: str) -> bytes:
    """The 32-byte seed. Opened once per key and process (cached by the sealed value, so a new
    key or another key-encryption key opens afresh); the seed never leaves the process."""
    return open_sealed(key_encryption_key, sealed, _aad(issuer_id, public_key))


def did_web(issuer_url: str, slug: str) -> str:
    """``did:web:<host>[%3A<port>][:<path segments>]:issuers:<slug>`` for the issuer service at ``issuer_url``.

    It resolves (did:web spec) to ``https://<host>[:port]/<path>/issuers/<slug>/did.json``,
    which this service serves.
    """
    return core_did.did_web(issuer_url, "issuers", slug)


def verification_method_id(did: str, multikey: str) -> str:
    return f"{did}#{multikey}"


def did_document(did: str, multikeys: list[str], chain_account: tuple[int, str] | None) -> dict:
    """The DID document: every Ed25519 key as a Multikey (assertionMethod), and the chain account.

    Retired keys stay listed: credentials they signed before retirement remain valid, and
    which times a key was valid for is the contract's to say (docs/contract.md), not this
    document's. The issuer's Ethereum account (the one that anchors its credentials) is
    an ``EcdsaSecp256k1RecoveryMethod2020`` entry with a CAIP-10 ``blockchainAccountId``;
    it is not an assertion method: it signs transactions, never credentials.
    """
    methods = [{"id": verification_method_id(did, mk), "type": "Multikey", "controller": did,
                "publicKeyMultibase": mk} for mk in multikeys]
    document = {"@context": list(DID_CONTEXTS), "id": did, "verificationMethod": methods,
                "assertionMethod": [m["id"] for m in methods]}
    if chain_account is not None:
        chain_id, address = chain_account
        methods.append({"id": f"{did}#chain-account", "type": "EcdsaSecp256k1RecoveryMethod2020", "controller": did,
                        "blockchainAccountId": f"eip155:{chain_id}:{address}"})
    return document

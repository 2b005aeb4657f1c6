"""The issuer signature: a Data Integrity proof with cryptosuite ``eddsa-rdfc-2022``.

W3C "Data Integrity EdDSA Cryptosuites v1.0", §3.3 (eddsa-rdfc-2022):

* proof configuration = the proof's options (everything but ``proofValue``) with the
  document's ``@context``;
* hash data = SHA-256(RDFC-1.0(proof configuration)) || SHA-256(RDFC-1.0(document
  without any ``proof``)) — 64 bytes, signed as is with Ed25519;
* ``proofValue`` = multibase base58btc of the 64-byte signature.

The second half, the document hash, is also the credential hash that gets anchored
(DESIGN §3), so :func:`sign_and_hash` and :func:`verify` hand it back: canonicalise once.
Canonicalisation is in safe mode (services.core.jsonld), so an undefined property fails
with ``UnsafeDocumentError`` rather than slipping past the signature.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.core import multiformats
from services.core.jsonld import StaticDocumentLoader, canonicalize

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_SIGNATURE_LENGTH = 64

PublicKeySource = bytes | Callable[[str], bytes]


class ProofError(ValueError):
    """The document has no usable eddsa-rdfc-2022 proof; the message says what is wrong."""


@dataclass(frozen=True)
class HashData:
    """What Ed25519 signs: the two SHA-256 hashes, proof configuration first."""

    proof_hash: bytes
    document_hash: bytes

    @property
    def combined(self) -> bytes:
        return self.proof_hash + self.document_hash


@dataclass(frozen=True)
class Signed:
    document: dict[str, Any]  # the input plus its proof
    proof: dict[str, Any]
    document_hash: bytes  # SHA-256 of the canonical document without proof: the credential hash


@dataclass(frozen=True)
class VerificationResult:
    valid: bool  # the signature verifies over this document
    document_hash: bytes
    verification_method: str
    created: datetime
    proof_purpose: str


def sign(document: Mapping[str, Any], private_key: Ed25519PrivateKey, verification_method: str,
         created: datetime | str, proof_purpose: str = "assertionMethod",
         loader: StaticDocumentLoader | None = None) -> dict[str, Any]:
    """``document`` with an eddsa-rdfc-2022 proof added (see :func:`sign_and_hash`)."""
    return sign_and_hash(document, private_key, verification_method, created, proof_purpose, loader).document


def sign_and_hash(document: Mapping[str, Any], private_key: Ed25519PrivateKey, verification_method: str,
                  created: datetime | str, proof_purpose: str = "assertionMethod",
                  loader: StaticDocumentLoader | None = None) -> Signed:
    """Sign ``document``; also return the document hash computed on the way.

    A proof already present (e.g. the ledger anchor) is kept in the proof set and, as the
    spec requires for proof sets, left out of what is signed.
    """
    proof = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _format_created(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    unsecured = _without_proof(document)
    data = hash_data(unsecured, proof_config(unsecured, proof), loader)
    proof["proofValue"] = multiformats.multibase_encode(private_key.sign(data.combined))
    existing = document.get("proof")
    proofs = [*existing] if isinstance(existing, list) else [existing] if existing is not None else []
    signed = {**document, "proof": [*proofs, proof] if proofs else proof}
    return Signed(document=signed, proof=proof, document_hash=data.document_hash)


def verify(document: Mapping[str, Any], public_key: PublicKeySource, expected_purpose: str = "assertionMethod",
           loader: StaticDocumentLoader | None = None) -> VerificationResult:
    """Check the document's eddsa-rdfc-2022 proof; other proofs in the set are ignored.

    ``public_key`` is the raw 32-byte Ed25519 key, or a function from the proof's
    verification method to that key. A bad signature gives ``valid=False``; a missing
    or malformed proof raises :class:`ProofError`; a document that cannot be
    canonicalised safely raises ``JsonLdDocumentError`` (services.core.jsonld).
    """
    proof = find_proof(document)
    verification_method, created, purpose, signature = _parse_proof(proof)
    if purpose != expected_purpose:
        raise ProofError(f"proofPurpose is {purpose!r}, expected {expected_purpose!r}")
    unsecured = _without_proof(document)
    options = {key: value for key, value in proof.items() if key != "proofValue"}
    if "@context" in options:
        # Verify Proof (eddsa-rdfc-2022): the proof's context must open the document's, then governs both.
        context = _as_list(options.pop("@context"))
        if _as_list(unsecured.get("@context"))[: len(context)] != context:
            raise ProofError("the proof's @context does not match the start of the document's @context")
        unsecured["@context"] = context
    data = hash_data(unsecured, proof_config(unsecured, options), loader)
    key = public_key(verification_method) if callable(public_key) else public_key
    return VerificationResult(
        valid=_signature_valid(key, signature, data.combined),
        document_hash=data.document_hash,
        verification_method=verification_method,
        created=created,
        proof_purpose=purpose,
    )


def find_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    """The one eddsa-rdfc-2022 proof in the document's ``proof`` (an object or a set)."""
    value = document.get("proof")
    proofs = value if isinstance(value, list) else [value] if value is not None else []
    ours = [p for p in proofs if isinstance(p, dict) and p.get("cryptosuite") == CRYPTOSUITE]
    if not ours:
        raise ProofError(f"the document has no {CRYPTOSUITE} proof")
    if len(ours) > 1:
        raise ProofError(f"the document has more than one {CRYPTOSUITE} proof")
    return ours[0]


def proof_config(unsecured: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The proof configuration: the proof options under the document's ``@context``."""
    return {**options, "@context": unsecured.get("@context")}


def hash_data(unsecured: Mapping[str, Any], config: Mapping[str, Any],
              loader: StaticDocumentLoader | None = None) -> HashData:
    """The two SHA-256 hashes of the canonical proof configuration and document."""
    return HashData(
        proof_hash=hashlib.sha256(canonicalize(config, loader).encode("utf-8")).digest(),
        document_hash=hashlib.sha256(canonicalize(unsecured, loader).encode("utf-8")).digest(),
    )


def _parse_proof(proof: Mapping[str, Any]) -> tuple[str, datetime, str, bytes]:
    if proof.get("type") != PROOF_TYPE:
        raise ProofError(f"proof type must be {PROOF_TYPE!r}")
    method, purpose, created = proof.get("verificationMethod"), proof.get("proofPurpose"), proof.get("created")
    if not isinstance(method, str) or not method:
        raise ProofError("proof has no verificationMethod")
    if not isinstance(purpose, str) or not purpose:
        raise ProofError("proof has no proofPurpose")
    if not isinstance(created, str) or not _DATETIME.match(created):
        raise ProofError("proof created must be an XML Schema dateTime, e.g. 2026-11-22T10:00:00Z")
    try:
        signature = multiformats.multibase_decode(proof.get("proofValue"))  # type: ignore[arg-type]
    except multiformats.MultiformatError as error:
        raise ProofError(f"proofValue: {error}") from None
    if len(signature) != _SIGNATURE_LENGTH:
        raise ProofError(f"proofValue must hold a {_SIGNATURE_LENGTH}-byte Ed25519 signature")
    return method, _parse_datetime(created), purpose, signature


def _signature_valid(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ProofError("the verification method's key is not a 32-byte Ed25519 public key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _format_created(created: datetime | str) -> str:
    if isinstance(created, str):
        if not _DATETIME.match(created):
            raise ValueError("created must be an XML Schema dateTime, e.g. 2026-11-22T10:00:00Z")
        return created
    if created.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ProofError(f"proof created {value!r} is not a valid date and time") from None


def _without_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "proof"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []

"""Signing credentials with eddsa-rdfc-2022, one at a time or many across processes.

:func:`sign_documents` is the whole signing step for documents that share a signer and a
``created`` time: the proof configuration is then identical for all of them, so its
canonical hash is computed once, and each document is canonicalised once — that hash is
both half of what Ed25519 signs and the credential hash that gets anchored (docs/signing.md,
including "Speed"). The result is byte-for-byte what services.core.dataintegrity.sign_and_hash makes
(tests compare them), with the proof set written as a list, as the OB 3.0 JSON Schema
requires.

:class:`SigningPool` spreads a batch over worker processes (canonicalisation is pure
Python, so threads would not use the second core). Workers are started with ``spawn``:
the API process has threads, which ``fork`` does not copy safely. The seed travels to a
worker with each call and is not kept there.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.core import dataintegrity, multiformats
from services.core.jsonld import JsonLdDocumentError, canonicalize


@dataclass(frozen=True)
class SignOutcome:
    document: dict | None     # the signed document, proof as a list
    credential_hash: str | None  # 0x hex
    error: str | None


def _proof_options(verification_method: str, created: str) -> dict[str, Any]:
    return {"type": dataintegrity.PROOF_TYPE, "cryptosuite": dataintegrity.CRYPTOSUITE, "created": created,
            "verificationMethod": verification_method, "proofPurpose": "assertionMethod"}


def sign_documents(seed: bytes, verification_method: str, created: str, documents: list[dict]) -> list[SignOutcome]:
    """Sign each unsigned document; a document that cannot be canonicalised safely gets an error."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    options = _proof_options(verification_method, created)
    proof_hashes: dict[str, bytes] = {}  # by context (the same for all of ours)
    outcomes = []
    for document in documents:
        try:
            unsecured = {k: v for k, v in document.items() if k != "proof"}
            context_key = repr(unsecured.get("@context"))
            proof_hash = proof_hashes.get(context_key)
            if proof_hash is None:
                config = dataintegrity.proof_config(unsecured, options)
                proof_hash = proof_hashes[context_key] = hashlib.sha256(canonicalize(config).encode()).digest()
            document_hash = hashlib.sha256(canonicalize(unsecured).encode()).digest()
        except JsonLdDocumentError as exc:
            outcomes.append(SignOutcome(None, None, f"the credential would not be signed safely: {exc}"))
            continue
        proof = {**options, "proofValue": multiformats.multibase_encode(key.sign(proof_hash + document_hash))}
        outcomes.append(SignOutcome({**unsecured, "proof": [proof]}, "0x" + document_hash.hex(), None))
    return outcomes



def _warm_up(_: int) -> int:
    import time

    from services.core.jsonld import canonicalize
    from services.issuer.credentials import document as cred

    achievement = cred.achievement_document(cred.AchievementData(id_url="https://x.example/a", name="n",
                                                                  description="d", criteria_narrative="c"))
    profile = cred.profile_document(cred.ProfileData(did="did:web:x", name="n", url="https://x.example",
                                                     email="a@x.example"))
    from datetime import UTC, datetime
    canonicalize(cred.build_credential(credential_id="warm", public_base_url="https://x.example", profile=profile,
                                       achievement=achievement, recipient_name="w", recipient_email="w@x.example",
                                       salt="s", valid_from=datetime.now(UTC), valid_until=None))
    time.sleep(0.2)  # hold this worker so the next warm-up lands on another
    return os.getpid()


class SigningPool:
    """A lazily started process pool for batch signing, shared by one process."""

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
                # Start every worker now and fill its caches, so no chunk waits for an import
                # or a cold context cache (each warm-up holds its worker until all have started).
                list(pool.map(_warm_up, range(self.processes)))
                self._pool = pool
            return self._pool

    def submit(self, seed: bytes, verification_method: str, created: str, documents: list[dict]):
        """Futures, one per slice of ``documents``; results in order via :func:`gather`."""
        if self.processes == 1 or len(documents) < 8:
            return [_Done(sign_documents(seed, verification_method, created, documents))]
        pool = self._executor()
        size = -(-len(documents) // self.processes)
        return [pool.submit(sign_documents, seed, verification_method, created, documents[i:i + size])
                for i in range(0, len(documents), size)]

    @staticmethod
    def gather(futures) -> list[SignOutcome]:
        return [outcome for f in futures for outcome in f.result()]

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


class _Done:
    def __init__(self, value: list[SignOutcome]) -> None:
        self._value = value

    def result(self) -> list[SignOutcome]:
        return self._value

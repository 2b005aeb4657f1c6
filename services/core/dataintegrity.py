"""The issuer signature: Data Integrity proofs with cryptosuite ``eddsa-rdfc-2022``.

W3C "Data Integrity EdDSA Cryptosuites v1.0", §3.3 (eddsa-rdfc-2022):

* proof configuration = the proof's options (everything but ``proofValue``) with the
  document's ``@context``;
* hash data = SHA-256(RDFC-1.0(proof configuration)) || SHA-256(RDFC-1.0(document
  without any ``proof``)) — 64 bytes, signed as is with Ed25519;
* ``proofValue`` = multibase base58btc of the 64-byte signature.

And W3C "Verifiable Credential Data Integrity 1.0", which this module follows for any VC:

* *context injection*: a document whose ``@context`` has neither the Data Integrity
  context nor the VC 2.0 context (which defines the same terms) gets the Data Integrity
  context appended — at signing in the document itself, at verification in the proof
  configuration — so a VC 1.1 (``credentials/v1``) document can be signed and verified;
* *proof sets and chains* (§4.2, §4.4): ``proof`` may be a list. A proof with
  ``previousProof`` (an id or a list of ids) covers the proofs it names: they are put back
  into the document as its ``proof`` before it is hashed. Every eddsa-rdfc-2022 proof in
  the set must verify, and so must every eddsa-rdfc-2022 proof one of them names; proofs of
  other cryptosuites (e.g. our ledger anchor, services.core.anchorproof) are not judged here;
* ``created`` is optional; ``created`` and ``expires`` are XML Schema dateTimes (one without
  a time zone offset is read as UTC, as the spec allows); a proof past ``expires`` fails.

The document hash of a proof without ``previousProof`` — SHA-256 of the canonical document
without ``proof`` — is also the credential hash that gets anchored, so
:func:`sign_and_hash`, :func:`verify` and :func:`verify_all` hand it back: canonicalise once.
Canonicalisation is in safe mode (services.core.jsonld), so an undefined property fails with
``UnsafeDocumentError`` rather than slipping past the signature. Anything else wrong with the
input — not an object, a proof that is not an object, a field of the wrong type — is a
:class:`ProofError`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.core import multiformats
from services.core.jsonld import StaticDocumentLoader, canonicalize

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"
CREDENTIALS_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"  # defines the Data Integrity terms too
_SIGNATURE_LENGTH = 64
# XML Schema 1.1 dateTime, years 0001-9999 (what Python's datetime holds); the offset is optional.
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$")

PublicKeySource = bytes | Callable[[str], bytes]
References = str | Sequence[str]


class ProofError(ValueError):
    """The document or a proof is not usable for eddsa-rdfc-2022; the message says what is wrong."""


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
    document: dict[str, Any]  # the input (with the Data Integrity context if it lacked it) plus the proof
    proof: dict[str, Any]
    # SHA-256 of the canonical document this proof hashed: the document without proof, plus
    # the previous proofs for a chained proof
    document_hash: bytes
    # SHA-256 of the canonical document without any proof: the credential hash that is
    # anchored; the same bytes as document_hash unless previous_proof was given
    credential_hash: bytes


@dataclass(frozen=True)
class ProofResult:
    """One eddsa-rdfc-2022 proof of a document, checked."""

    index: int  # position in the document's proof set (0 for a lone proof object)
    id: str | None
    verification_method: str
    proof_purpose: str
    created: datetime | None  # None: the proof has no ``created``
    expires: datetime | None
    previous_proof: tuple[str, ...]  # the ids it names in ``previousProof``
    valid: bool
    signature_valid: bool | None  # None: not checked (a previousProof names no proof in the set)
    document_hash: bytes | None  # SHA-256 of the canonical document it hashed (None: not computed)
    error: str | None  # why it is not valid


@dataclass(frozen=True)
class ProofSetResult:
    """Every eddsa-rdfc-2022 proof of a document, in proof-set order; other cryptosuites are left out."""

    proofs: tuple[ProofResult, ...]
    document_hash: bytes  # SHA-256 of the canonical document without any proof: the credential hash

    @property
    def valid(self) -> bool:
        """At least one eddsa-rdfc-2022 proof, and every one of them verifies."""
        return bool(self.proofs) and all(proof.valid for proof in self.proofs)

    @property
    def error(self) -> str | None:
        """Why the first failing proof fails, or None if all verify."""
        return next((proof.error for proof in self.proofs if not proof.valid), None)


@dataclass(frozen=True)
class VerificationResult:
    """:func:`verify`'s summary of a proof set: valid only if every eddsa-rdfc-2022 proof is."""

    valid: bool  # every eddsa-rdfc-2022 proof verifies over this document
    document_hash: bytes  # the credential hash (document without any proof)
    verification_method: str  # of the first eddsa-rdfc-2022 proof
    created: datetime | None  # of the first eddsa-rdfc-2022 proof; None when it has none
    proof_purpose: str
    expires: datetime | None = None
    error: str | None = None  # why not valid


# -- signing ------------------------------------------------------------------------------

def sign(document: Mapping[str, Any], private_key: Ed25519PrivateKey, verification_method: str,
         created: datetime | str | None, proof_purpose: str = "assertionMethod",
         loader: StaticDocumentLoader | None = None, *, previous_proof: References | None = None,
         proof_id: str | None = None, expires: datetime | str | None = None) -> dict[str, Any]:
    """``document`` with an eddsa-rdfc-2022 proof added (see :func:`sign_and_hash`)."""
    return sign_and_hash(document, private_key, verification_method, created, proof_purpose, loader,
                         previous_proof=previous_proof, proof_id=proof_id, expires=expires).document


def sign_and_hash(document: Mapping[str, Any], private_key: Ed25519PrivateKey, verification_method: str,
                  created: datetime | str | None, proof_purpose: str = "assertionMethod",
                  loader: StaticDocumentLoader | None = None, *, previous_proof: References | None = None,
                  proof_id: str | None = None, expires: datetime | str | None = None) -> Signed:
    """Sign ``document``; also return the document hash computed on the way.

    ``created=None`` leaves ``created`` out (it is optional). ``proof_id`` gives the proof an
    ``id`` that a later proof can name; ``previous_proof`` (an id or a list of ids of proofs
    already in the document) makes this proof part of a chain: those proofs are hashed with
    the document. Proofs already present (e.g. the ledger anchor) are kept in the proof set
    and, unless named in ``previous_proof``, left out of what is signed. A document whose
    ``@context`` lacks the Data Integrity terms gets the Data Integrity context appended.
    A VerifiableCredential without ``credentialSubject`` is refused.
    """
    document = _require_object(document, "the document to sign")
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ProofError("the signing key must be an Ed25519 private key")
    _require_text(verification_method, "verificationMethod")
    _require_text(proof_purpose, "proofPurpose")
    _require_credential_subject(document)
    existing = _proof_set(document)
    references = _references(previous_proof, "previous_proof") if previous_proof is not None else ()
    if proof_id is not None:
        _require_text(proof_id, "the proof id")
        if any(proof.get("id") == proof_id for proof in existing):
            raise ProofError(f"the document already has a proof with id {_show(proof_id)}")

    proof: dict[str, Any] = {"type": PROOF_TYPE}
    if proof_id is not None:
        proof["id"] = proof_id
    proof["cryptosuite"] = CRYPTOSUITE
    if created is not None:
        proof["created"] = _format_datetime(created, "created")
    if expires is not None:
        proof["expires"] = _format_datetime(expires, "expires")
    proof["verificationMethod"] = verification_method
    proof["proofPurpose"] = proof_purpose
    if references:
        proof["previousProof"] = references[0] if isinstance(previous_proof, str) else list(references)

    document = {**document, "@context": with_data_integrity_context(document.get("@context"))}
    unsecured = _without_proof(document)
    try:
        previous = _matching(existing, references)
    except _Dangling as dangling:
        raise ProofError(f"previous_proof {_show(dangling.reference)} names no proof in the document") from None
    hashed = {**unsecured, "proof": previous} if previous else unsecured
    data = hash_data(hashed, proof_config(hashed, proof), loader)
    proof["proofValue"] = multiformats.multibase_encode(private_key.sign(data.combined))
    credential_hash = _sha256(canonicalize(unsecured, loader)) if previous else data.document_hash
    signed = {**document, "proof": [*existing, proof] if existing else proof}
    return Signed(document=signed, proof=proof, document_hash=data.document_hash, credential_hash=credential_hash)


# -- verifying ----------------------------------------------------------------------------

def verify(document: Mapping[str, Any], public_key: PublicKeySource, expected_purpose: str = "assertionMethod",
           loader: StaticDocumentLoader | None = None, *, now: datetime | None = None) -> VerificationResult:
    """Check the document's eddsa-rdfc-2022 proofs (see :func:`verify_all`), summed up.

    ``valid`` only if every eddsa-rdfc-2022 proof verifies; the verification method, created
    and purpose are the first such proof's. ``public_key`` is the raw 32-byte Ed25519 key, or
    a function from a proof's verification method to that key. A missing or malformed proof
    raises :class:`ProofError`; a document that cannot be canonicalised safely raises
    ``JsonLdDocumentError`` (services.core.jsonld).
    """
    result = verify_all(document, public_key, expected_purpose, now, loader=loader)
    first = result.proofs[0]
    return VerificationResult(valid=result.valid, document_hash=result.document_hash,
                              verification_method=first.verification_method, created=first.created,
                              proof_purpose=first.proof_purpose, expires=first.expires, error=result.error)


def verify_all(document: Mapping[str, Any], public_key: PublicKeySource, expected_purpose: str | None = "assertionMethod",
               now: datetime | None = None, *, loader: StaticDocumentLoader | None = None,
               document_hash: bytes | None = None) -> ProofSetResult:
    """Check every eddsa-rdfc-2022 proof in the document's proof set or chain (DI 1.0 §4.4).

    Each proof is checked over the document without ``proof`` — plus, for a proof with
    ``previousProof``, the proofs it names — and is valid when its signature matches, every
    id it names is a proof in the set, every eddsa-rdfc-2022 proof it names is valid, and
    ``now`` (default: the current time) is before its ``expires``. Proofs of other
    cryptosuites are ignored, except as data a chained proof covers.

    Raises :class:`ProofError` when the document is not an object, has no eddsa-rdfc-2022
    proof, or one is malformed (missing or mistyped ``type``, ``verificationMethod``,
    ``proofPurpose``, ``proofValue``; ``created``/``expires`` not an XML Schema dateTime;
    ``previousProof`` not an id or list of ids) or has another purpose than
    ``expected_purpose`` (None: any). Whatever ``public_key`` raises propagates.

    ``document_hash``: the SHA-256 of the document's canonical form without ``proof``
    (``jsonld.credential_hash`` with the same loader), when the caller has it already — the
    verifier computes it first to send its chain read while the signatures are checked.
    """
    document = _require_object(document, "the document")
    now = _now(now)
    all_proofs = _proof_set(document)
    ours = [(index, proof) for index, proof in enumerate(all_proofs) if proof.get("cryptosuite") == CRYPTOSUITE]
    if not ours:
        raise ProofError(f"the document has no {CRYPTOSUITE} proof")
    unsecured = _without_proof(document)
    parsed = [_parse_proof(proof, index, _label(index, proof) if len(ours) > 1 else "", expected_purpose)
              for index, proof in ours]

    document_hashes: dict[Any, bytes] = {}  # canonicalise each distinct input once
    if document_hash is not None:
        document_hashes[(repr(unsecured.get("@context")), repr(None))] = document_hash

    def hash_of(hashed: dict[str, Any]) -> bytes:
        key = (repr(hashed.get("@context")), repr(hashed.get("proof")))
        if key not in document_hashes:
            document_hashes[key] = _sha256(canonicalize(hashed, loader))
        return document_hashes[key]

    results: list[ProofResult] = []
    for item in parsed:
        key = public_key(item.verification_method) if callable(public_key) else public_key
        hashed = dict(unsecured)
        if item.context is not None:
            # Verify Proof (eddsa-rdfc-2022): the proof's context must open the document's, then governs both.
            if _as_list(hashed.get("@context"))[: len(item.context)] != item.context:
                raise ProofError(f"{item.where}the proof's @context does not match the start of the document's")
            hashed["@context"] = item.context
        try:
            previous = _matching(all_proofs, item.previous_proof)
        except _Dangling as dangling:
            _check_key(key)
            results.append(item.result(False, None, None, f"{item.where}previousProof {_show(dangling.reference)} "
                                                          f"names no proof in the document"))
            continue
        if previous:
            hashed["proof"] = previous
        document_hash = hash_of(hashed)
        proof_hash = _sha256(canonicalize(proof_config(hashed, item.options), loader))
        signature_valid = _signature_valid(key, item.signature, proof_hash + document_hash)
        error = None
        if not signature_valid:
            error = f"{item.where}the signature does not match the document"
        elif item.expires is not None and now >= item.expires:
            error = f"{item.where}the proof expired at {_iso(item.expires)}"
        results.append(item.result(error is None, signature_valid, document_hash, error))

    _fail_chains_on_failed_links(results)
    base = document_hashes.get((repr(unsecured.get("@context")), repr(None)))
    return ProofSetResult(proofs=tuple(results), document_hash=base or hash_of(unsecured))


def find_proofs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The eddsa-rdfc-2022 proofs in the document's ``proof`` (an object or a set), in order."""
    document = _require_object(document, "the document")
    ours = [proof for proof in _proof_set(document) if proof.get("cryptosuite") == CRYPTOSUITE]
    if not ours:
        raise ProofError(f"the document has no {CRYPTOSUITE} proof")
    return ours


def find_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    """The first eddsa-rdfc-2022 proof in the document's ``proof`` (an object or a set)."""
    return find_proofs(document)[0]


# -- the pieces of the cryptosuite ---------------------------------------------------------

def with_data_integrity_context(context: Any) -> Any:
    """``context`` with the Data Integrity context appended, unless it (or VC 2.0) is already there."""
    if _includes(context, DATA_INTEGRITY_CONTEXT) or _includes(context, CREDENTIALS_V2_CONTEXT):
        return context
    if context is None:
        return [DATA_INTEGRITY_CONTEXT]
    return [*context, DATA_INTEGRITY_CONTEXT] if isinstance(context, list) else [context, DATA_INTEGRITY_CONTEXT]


def proof_config(unsecured: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The proof configuration: the proof options under the document's ``@context``.

    The Data Integrity context is added when the document's context lacks its terms, as the
    spec's context injection says (a credentials/v1 document does).
    """
    return {**options, "@context": with_data_integrity_context(unsecured.get("@context"))}


def hash_data(unsecured: Mapping[str, Any], config: Mapping[str, Any],
              loader: StaticDocumentLoader | None = None) -> HashData:
    """The two SHA-256 hashes of the canonical proof configuration and document."""
    return HashData(proof_hash=_sha256(canonicalize(config, loader)),
                    document_hash=_sha256(canonicalize(unsecured, loader)))


# -- internals ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Parsed:
    index: int
    where: str  # "" for a lone proof, else "proof 2 ('urn:…'): "
    id: str | None
    options: dict[str, Any]  # the proof without proofValue and @context
    context: list[Any] | None  # the proof's own @context, if it has one
    verification_method: str
    proof_purpose: str
    created: datetime | None
    expires: datetime | None
    previous_proof: tuple[str, ...]
    signature: bytes

    def result(self, valid: bool, signature_valid: bool | None, document_hash: bytes | None,
               error: str | None) -> ProofResult:
        return ProofResult(index=self.index, id=self.id, verification_method=self.verification_method,
                           proof_purpose=self.proof_purpose, created=self.created, expires=self.expires,
                           previous_proof=self.previous_proof, valid=valid, signature_valid=signature_valid,
                           document_hash=document_hash, error=error)


class _Dangling(Exception):
    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


def _parse_proof(proof: Mapping[str, Any], index: int, label: str, expected_purpose: str | None) -> _Parsed:
    where = f"{label}: " if label else ""
    if proof.get("type") != PROOF_TYPE:
        raise ProofError(f"{where}proof type must be {PROOF_TYPE!r}")
    method, purpose = proof.get("verificationMethod"), proof.get("proofPurpose")
    if not isinstance(method, str) or not method:
        raise ProofError(f"{where}proof has no verificationMethod")
    if not isinstance(purpose, str) or not purpose:
        raise ProofError(f"{where}proof has no proofPurpose")
    if expected_purpose is not None and purpose != expected_purpose:
        raise ProofError(f"{where}proofPurpose is {_show(purpose)}, expected {expected_purpose!r}")
    proof_id = proof.get("id")
    if proof_id is not None and (not isinstance(proof_id, str) or not proof_id):
        raise ProofError(f"{where}proof id must be a string")
    created = _parse_datetime(proof["created"], f"{where}proof created") if "created" in proof else None
    expires = _parse_datetime(proof["expires"], f"{where}proof expires") if "expires" in proof else None
    references = _references(proof["previousProof"], f"{where}previousProof") if "previousProof" in proof else ()
    try:
        signature = multiformats.multibase_decode(proof.get("proofValue"))  # type: ignore[arg-type]
    except multiformats.MultiformatError as error:
        raise ProofError(f"{where}proofValue: {error}") from None
    if len(signature) != _SIGNATURE_LENGTH:
        raise ProofError(f"{where}proofValue must hold a {_SIGNATURE_LENGTH}-byte Ed25519 signature")
    options = {key: value for key, value in proof.items() if key not in ("proofValue", "@context")}
    context = None
    if "@context" in proof:
        value = proof["@context"]
        if not isinstance(value, str | list | dict) or value == []:
            raise ProofError(f"{where}the proof's @context must be a context URL, object or list")
        context = _as_list(value)
    return _Parsed(index=index, where=where, id=proof_id, options=options, context=context,
                   verification_method=method, proof_purpose=purpose, created=created, expires=expires,
                   previous_proof=references, signature=signature)


def _fail_chains_on_failed_links(results: list[ProofResult]) -> None:
    """A proof whose previousProof names a failing eddsa-rdfc-2022 proof fails too (transitively)."""
    changed = True
    while changed:
        changed = False
        failing = {result.id for result in results if not result.valid and result.id is not None}
        for position, result in enumerate(results):
            if result.valid and (bad := next((r for r in result.previous_proof if r in failing), None)):
                where = f"{_label(result.index, {'id': result.id})}: " if len(results) > 1 else ""
                results[position] = replace(result, valid=False,
                                            error=f"{where}its previous proof {_show(bad)} does not verify")
                changed = True


def _matching(all_proofs: list[dict[str, Any]], references: tuple[str, ...]) -> list[dict[str, Any]]:
    """The proofs the ids name, in the order named (DI 1.0 §4.2 step 4-5, §4.4 step 3.2)."""
    matching: list[dict[str, Any]] = []
    for reference in dict.fromkeys(references):
        found = [proof for proof in all_proofs if proof.get("id") == reference]
        if not found:
            raise _Dangling(reference)
        if len(found) > 1:
            raise ProofError(f"more than one proof in the document has the id {_show(reference)}")
        matching.append(found[0])
    return matching


def _references(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list | tuple) and value and all(isinstance(item, str) and item for item in value):
        return tuple(value)
    raise ProofError(f"{name} must be a proof id or a non-empty list of proof ids")


def _proof_set(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's proofs (``proof`` may be absent, null, one object or a list of objects)."""
    value = document.get("proof")
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [dict(value)]
    if not isinstance(value, list):
        raise ProofError("proof must be an object or a list of objects")
    for index, proof in enumerate(value):
        if not isinstance(proof, Mapping):
            raise ProofError(f"proof {index + 1} of the proof set is not an object")
    return [dict(proof) for proof in value]


def _require_object(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise ProofError(f"{what} must be a JSON object, not {type(document).__name__}")
    return document


def _require_text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ProofError(f"{name} must be a non-empty string")


def _require_credential_subject(document: Mapping[str, Any]) -> None:
    if "VerifiableCredential" not in _as_list(document.get("type")):
        return
    subjects = _as_list(document.get("credentialSubject"))
    if not subjects or not all(isinstance(subject, Mapping) and subject for subject in subjects):
        raise ProofError("a VerifiableCredential needs a credentialSubject (one or more non-empty objects) "
                         "before it can be signed")


def _check_key(public_key: Any) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise ProofError("the verification method's key is not a 32-byte Ed25519 public key")


def _signature_valid(public_key: Any, signature: bytes, message: bytes) -> bool:
    _check_key(public_key)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _format_datetime(value: Any, name: str) -> str:
    """A proof date to write: a timezone-aware datetime (written in UTC to the second) or a dateTimeStamp."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ProofError(f"{name} must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _parse_datetime(value, name)  # anything but an XML Schema dateTime raises
    if not _DATETIME.match(value).group(8):  # type: ignore[union-attr]
        raise ProofError(f"{name} must have a time zone, e.g. 2026-11-22T10:00:00Z")
    return value


def _parse_datetime(value: Any, name: str) -> datetime:
    """An XML Schema dateTime; without a time zone offset it is read as UTC (DI 1.0 §2.1 allows it)."""
    match = _DATETIME.match(value) if isinstance(value, str) else None
    if match is None:
        raise ProofError(f"{name} must be an XML Schema dateTime, e.g. 2026-11-22T10:00:00Z; got {_show(value)}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, offset = match.group(7) or "", match.group(8)
    try:
        zone = UTC
        if offset and offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if minutes > 59 or hours > 14 or (hours == 14 and minutes):
                raise ValueError("offset out of range")
            zone = timezone((-1 if offset[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
        midnight = hour == 24 and minute == 0 and second == 0 and not fraction.strip("0")
        return datetime(year, month, day, 0 if midnight else hour, minute, second,
                        int(fraction[:6].ljust(6, "0")), tzinfo=zone) + timedelta(days=1 if midnight else 0)
    except (ValueError, OverflowError):
        raise ProofError(f"{name} {_show(value)} is not a valid date and time") from None


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _label(index: int, proof: Mapping[str, Any]) -> str:
    proof_id = proof.get("id")
    return f"proof {index + 1} ({_show(proof_id)})" if isinstance(proof_id, str) else f"proof {index + 1}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _includes(context: Any, url: str) -> bool:
    return context == url or (isinstance(context, list) and url in context)


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _without_proof(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "proof"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []

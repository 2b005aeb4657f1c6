"""Data Integrity 1.0 behaviour of our eddsa-rdfc-2022 layer, beyond the single-proof vectors.

Context injection (a credentials/v1 document), proof sets, proof chains (``previousProof``),
``expires``, optional ``created``, the VC ``credentialSubject`` rule, and malformed input of
any kind ending in :class:`ProofError` — for any VC, not only our Open Badges. The last part
checks the verifier's document verdict over proof sets.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core import anchorproof, dataintegrity, multiformats
from services.core.dataintegrity import ProofError, verify, verify_all
from services.core.jsonld import JsonLdDocumentError, credential_hash
from services.verifier.checker import document_verdict

REPO = Path(__file__).resolve().parents[2]
V1 = "https://www.w3.org/2018/credentials/v1"
V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"
DI = dataintegrity.DATA_INTEGRITY_CONTEXT
CREATED = "2026-11-22T10:00:00Z"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


class Signer:
    """An Ed25519 key with its did:key verification method."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        multikey = multiformats.encode_public_key(self.public)
        self.did = f"did:key:{multikey}"
        self.vm = f"{self.did}#{multikey}"

    def sign(self, document: dict[str, Any], created: Any = CREATED, **kwargs: Any) -> dict[str, Any]:
        return dataintegrity.sign(document, self.key, self.vm, created, **kwargs)


def did_key(verification_method: str) -> bytes:
    return multiformats.decode_public_key(verification_method.split("#", 1)[1])


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def bob() -> Signer:
    return Signer()


def vc2() -> dict[str, Any]:
    return {"@context": [V2, EXAMPLES], "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"], "issuer": "did:example:issuer",
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"}}


# No @vocab here: it would give DataIntegrityProof and its terms some IRI even without the
# Data Integrity context, and hide whether the context is added.
ALUMNI = {"AlumniCredential": "https://www.example.org/AlumniCredential", "alumniOf": "https://www.example.org/alumniOf"}


def vc1() -> dict[str, Any]:
    return {"@context": [V1, ALUMNI], "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
            "type": ["VerifiableCredential", "AlumniCredential"], "issuer": "did:example:issuer",
            "issuanceDate": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"}}


def flip_signature(proof: dict[str, Any]) -> None:
    signature = bytearray(multiformats.multibase_decode(proof["proofValue"]))
    signature[5] ^= 0x01
    proof["proofValue"] = multiformats.multibase_encode(bytes(signature))


# -- context injection -------------------------------------------------------------------

def test_a_credentials_v1_document_is_signed_with_the_data_integrity_context_added(alice):
    signed = dataintegrity.sign_and_hash(vc1(), alice.key, alice.vm, CREATED)
    assert signed.document["@context"] == [V1, ALUMNI, DI]
    assert signed.document_hash == signed.credential_hash == credential_hash(signed.document)
    result = verify(signed.document, did_key)
    assert result.valid and result.document_hash == signed.document_hash


def test_a_credentials_v1_document_verifies_when_only_the_proof_configuration_gets_the_context(alice):
    # A signer that injects the context into the proof configuration only (as verifiers do)
    # leaves the document's @context as it was; the canonical document is the same either way.
    signed = alice.sign(vc1())
    without = {**signed, "@context": [V1, ALUMNI]}
    assert verify(without, did_key).valid
    without["credentialSubject"] = {**without["credentialSubject"], "alumniOf": "Another School"}
    assert not verify(without, did_key).valid


@pytest.mark.parametrize(("context", "expected"), [
    ([V2, EXAMPLES], [V2, EXAMPLES]),
    ([V1, DI, EXAMPLES], [V1, DI, EXAMPLES]),
    (V1, [V1, DI]),
    ([V1], [V1, DI]),
    (None, [DI]),
    ({"@vocab": "https://example.org/#"}, [{"@vocab": "https://example.org/#"}, DI]),
])
def test_the_data_integrity_context_is_added_only_where_its_terms_are_missing(context, expected):
    assert dataintegrity.with_data_integrity_context(context) == expected


def test_a_credentials_v2_document_keeps_its_context(alice):
    assert alice.sign(vc2())["@context"] == [V2, EXAMPLES]


# -- proof sets ----------------------------------------------------------------------------

def test_a_proof_set_of_two_eddsa_proofs_verifies_when_both_do(alice, bob):
    both = bob.sign(alice.sign(vc2()))
    assert [p["verificationMethod"] for p in both["proof"]] == [alice.vm, bob.vm]
    result = verify_all(both, did_key)
    assert result.valid and len(result.proofs) == 2
    assert result.document_hash == credential_hash(both)
    assert all(p.document_hash == result.document_hash for p in result.proofs)
    summary = verify(both, did_key)
    assert summary.valid and summary.verification_method == alice.vm


def test_one_tampered_proof_makes_the_set_invalid(alice, bob):
    both = bob.sign(alice.sign(vc2()))
    flip_signature(both["proof"][1])
    result = verify_all(both, did_key)
    assert not result.valid
    assert [p.valid for p in result.proofs] == [True, False]
    assert result.proofs[1].signature_valid is False
    assert not verify(both, did_key).valid


def test_a_changed_document_fails_every_proof_of_the_set(alice, bob):
    both = bob.sign(alice.sign(vc2()))
    both["credentialSubject"]["alumniOf"] = "Another School"
    assert [p.valid for p in verify_all(both, did_key).proofs] == [False, False]


def test_other_cryptosuites_in_the_set_are_left_out(alice, bob):
    anchor = anchorproof.encode(anchorproof.AnchorReceipt(
        chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        account="0x70997970C51812dc3A010C7d01b50e0d17dc79C8", root="0x" + "ab" * 32, path=(),
        tx_hash="0x" + "ef" * 32, block_number=12), "2026-11-22T10:05:00Z")
    signed = alice.sign({**vc2(), "proof": anchor})
    signed = bob.sign(signed)
    assert signed["proof"][0] == anchor
    result = verify_all(signed, did_key)
    assert result.valid and [p.index for p in result.proofs] == [1, 2]
    assert result.document_hash == credential_hash(vc2())


def test_a_proof_of_another_purpose_in_the_set_is_a_proof_error(alice, bob):
    both = dataintegrity.sign(alice.sign(vc2()), bob.key, bob.vm, CREATED, proof_purpose="authentication")
    with pytest.raises(ProofError, match="proof 2.*proofPurpose"):
        verify_all(both, did_key)
    assert verify_all(both, did_key, expected_purpose=None).valid


# -- proof chains ----------------------------------------------------------------------------

@pytest.fixture
def chain(alice, bob) -> dict[str, Any]:
    first = alice.sign(vc2(), proof_id="urn:uuid:first")
    return bob.sign(first, "2026-11-22T10:10:00Z", previous_proof="urn:uuid:first")


def test_a_chained_proof_covers_the_proof_it_names(chain, alice, bob):
    assert chain["proof"][1]["previousProof"] == "urn:uuid:first"
    result = verify_all(chain, did_key)
    assert result.valid
    first, second = result.proofs
    assert first.id == "urn:uuid:first" and second.previous_proof == ("urn:uuid:first",)
    # the base proof's document hash is the credential hash; the chained one also hashed the first proof
    assert first.document_hash == result.document_hash == credential_hash(chain)
    assert second.document_hash != result.document_hash


def test_signing_a_chained_proof_returns_both_hashes(alice, bob):
    first = alice.sign(vc2(), proof_id="urn:uuid:first")
    signed = dataintegrity.sign_and_hash(first, bob.key, bob.vm, CREATED, previous_proof=["urn:uuid:first"])
    assert signed.proof["previousProof"] == ["urn:uuid:first"]
    assert signed.credential_hash == credential_hash(vc2())
    assert signed.document_hash == verify_all(signed.document, did_key).proofs[1].document_hash
    assert signed.document_hash != signed.credential_hash


def test_a_dangling_previous_proof_is_invalid(chain):
    alone = {**chain, "proof": [chain["proof"][1]]}
    result = verify_all(alone, did_key)
    assert not result.valid
    assert "names no proof" in result.proofs[0].error and result.proofs[0].signature_valid is None
    # the document hash (what gets anchored) is still known
    assert result.document_hash == credential_hash(chain)


def test_a_dangling_id_in_a_previous_proof_list_is_invalid(alice, bob):
    first = alice.sign(vc2(), proof_id="urn:uuid:first")
    with pytest.raises(ProofError, match="names no proof"):  # signing refuses to name a proof that is not there
        bob.sign(first, previous_proof=["urn:uuid:first", "urn:uuid:second"])
    chained = bob.sign(first, previous_proof=["urn:uuid:first"])
    chained["proof"][1]["previousProof"] = ["urn:uuid:first", "urn:uuid:second"]
    result = verify_all(chained, did_key)
    assert not result.valid and "urn:uuid:second" in result.proofs[1].error


def test_a_tampered_previous_proof_breaks_the_chain(chain):
    tampered = copy.deepcopy(chain)
    flip_signature(tampered["proof"][0])
    result = verify_all(tampered, did_key)
    assert [p.valid for p in result.proofs] == [False, False]
    assert result.proofs[1].signature_valid is False  # its hash covers the first proof's bytes

    tampered = copy.deepcopy(chain)
    tampered["proof"][0]["created"] = "2026-11-22T09:00:00Z"
    assert [p.valid for p in verify_all(tampered, did_key).proofs] == [False, False]


def test_a_chained_proof_fails_when_the_proof_it_names_fails_for_another_reason(alice, bob):
    first = alice.sign(vc2(), proof_id="urn:uuid:first", expires="2026-11-30T00:00:00Z")
    chained = bob.sign(first, previous_proof="urn:uuid:first")
    assert verify_all(chained, did_key, now=datetime(2026, 11, 25, tzinfo=UTC)).valid
    result = verify_all(chained, did_key, now=NOW)
    assert [p.valid for p in result.proofs] == [False, False]
    assert result.proofs[1].signature_valid is True
    assert "previous proof 'urn:uuid:first' does not verify" in result.proofs[1].error


def test_a_chained_proof_can_cover_a_proof_of_another_cryptosuite(alice):
    anchor = anchorproof.encode(anchorproof.AnchorReceipt(
        chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3",
        account="0x70997970C51812dc3A010C7d01b50e0d17dc79C8", root="0x" + "ab" * 32, path=(),
        tx_hash="0x" + "ef" * 32, block_number=12), "2026-11-22T10:05:00Z")
    signed = alice.sign({**vc2(), "proof": {**anchor, "id": "urn:uuid:anchor"}}, previous_proof="urn:uuid:anchor")
    assert verify_all(signed, did_key).valid
    signed["proof"][0]["created"] = "2026-11-22T10:06:00Z"
    assert not verify_all(signed, did_key).valid


def test_chain_input_errors_are_proof_errors(alice, chain):
    with pytest.raises(ProofError, match="already has a proof with id"):
        alice.sign(chain, proof_id="urn:uuid:first")
    twice = copy.deepcopy(chain)
    twice["proof"].append({**twice["proof"][0]})
    with pytest.raises(ProofError, match="more than one proof"):
        verify_all(twice, did_key)
    for bad in (456321, None, [], [1], [""], {"id": "urn:uuid:first"}):
        broken = copy.deepcopy(chain)
        broken["proof"][1]["previousProof"] = bad
        with pytest.raises(ProofError, match="previousProof"):
            verify_all(broken, did_key)
    for bad in (5, [], [None]):
        with pytest.raises(ProofError, match="previous_proof"):
            alice.sign(chain, previous_proof=bad)


# -- created and expires -------------------------------------------------------------------

def test_an_expired_proof_is_invalid_with_a_clear_message(alice):
    signed = alice.sign(vc2(), expires="2026-11-30T00:00:00Z")
    assert signed["proof"]["expires"] == "2026-11-30T00:00:00Z"
    assert verify_all(signed, did_key, now=datetime(2026, 11, 29, tzinfo=UTC)).valid
    result = verify(signed, did_key, now=NOW)
    assert not result.valid
    assert result.expires == datetime(2026, 11, 30, tzinfo=UTC)
    assert result.error == "the proof expired at 2026-11-30T00:00:00Z"
    assert not verify(signed, did_key).valid  # now defaults to the current time


@pytest.mark.parametrize("value", ["invalidDate", "2026-02-30T00:00:00Z", "2026-11-22T25:00:00Z",
                                   "2026-11-22 10:00:00Z", "2026-11-22T10:00:00+15:00", "2026-11-22", "",
                                   20261122, None, ["2026-11-22T10:00:00Z"]])
def test_a_malformed_expires_or_created_is_a_proof_error(alice, value):
    signed = alice.sign(vc2())
    for field in ("expires", "created"):
        document = copy.deepcopy(signed)
        document["proof"][field] = value
        with pytest.raises(ProofError, match=f"{field}.*XML Schema dateTime|{field}.*not a valid date"):
            verify(document, did_key)


@pytest.mark.parametrize("value", ["invalidDate", datetime(2026, 11, 30), "2026-11-30T00:00:00", 5])
def test_signing_refuses_a_malformed_expires(alice, value):
    with pytest.raises(ProofError, match="expires"):
        alice.sign(vc2(), expires=value)


def test_a_proof_without_created_verifies_and_reports_none(alice):
    signed = alice.sign(vc2(), created=None)
    assert "created" not in signed["proof"]
    result = verify(signed, did_key)
    assert result.valid and result.created is None
    assert verify_all(signed, did_key).proofs[0].created is None


def _signed_with_options(signer: Signer, document: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A proof made by hand, for option values our signer does not write."""
    options = {"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", **fields,
               "verificationMethod": signer.vm, "proofPurpose": "assertionMethod"}
    data = dataintegrity.hash_data(document, dataintegrity.proof_config(document, options))
    return {**document, "proof": {**options, "proofValue": multiformats.multibase_encode(signer.key.sign(data.combined))}}


@pytest.mark.parametrize(("created", "expected"), [
    ("2026-11-22T10:00:00", datetime(2026, 11, 22, 10, tzinfo=UTC)),  # no offset: read as UTC
    ("2026-11-22T12:00:00.123456789+02:00", datetime(2026, 11, 22, 12, 0, 0, 123456,
                                                     tzinfo=timezone(timedelta(hours=2)))),
    ("2026-11-22T24:00:00Z", datetime(2026, 11, 23, tzinfo=UTC)),
])
def test_xml_schema_datetimes_are_read_as_the_spec_says(alice, created, expected):
    result = verify(_signed_with_options(alice, vc2(), created=created), did_key)
    assert result.valid and result.created == expected


def test_expires_without_offset_is_read_as_utc(alice):
    signed = _signed_with_options(alice, vc2(), expires="2026-11-30T00:00:00")
    assert verify(signed, did_key, now=datetime(2026, 11, 29, 23, 59, tzinfo=UTC)).valid
    assert not verify(signed, did_key, now=datetime(2026, 11, 30, tzinfo=UTC)).valid


# -- credentialSubject --------------------------------------------------------------------

@pytest.mark.parametrize("subject", ["missing", None, {}, [], [{}], "did:example:1"])
def test_a_verifiable_credential_without_credential_subject_is_not_signed(alice, subject):
    document = vc2()
    if subject == "missing":
        del document["credentialSubject"]
    else:
        document["credentialSubject"] = subject
    with pytest.raises(ProofError, match="credentialSubject"):
        alice.sign(document)


def test_a_document_that_is_not_a_credential_needs_no_subject(alice):
    document = {"@context": [V2, EXAMPLES], "type": ["ExampleDocument"], "name": "not a credential"}
    assert verify(alice.sign(document), did_key).valid


# -- malformed input ----------------------------------------------------------------------

NOT_OBJECTS = [None, "a string", 5, 1.5, True, [], [{"proof": {}}], b"bytes"]


@pytest.mark.parametrize("document", NOT_OBJECTS, ids=repr)
def test_a_document_that_is_not_an_object_is_a_proof_error(alice, document):
    with pytest.raises(ProofError, match="JSON object"):
        verify(document, did_key)
    with pytest.raises(ProofError, match="JSON object"):
        verify_all(document, did_key)
    with pytest.raises(ProofError, match="JSON object"):
        dataintegrity.find_proof(document)
    with pytest.raises(ProofError, match="JSON object"):
        alice.sign(document)


@pytest.mark.parametrize("proof", [None, "z3u2en7t5LR2Wt", 5, [], [1], [None, {}], [[]], True], ids=repr)
def test_a_proof_that_is_not_an_object_is_a_proof_error(alice, proof):
    document = {**vc2(), "proof": proof}
    with pytest.raises(ProofError):
        verify(document, did_key)
    if proof not in (None, []):
        with pytest.raises(ProofError, match="proof"):
            alice.sign(document)


@pytest.mark.parametrize(("field", "value"), [
    ("type", None), ("type", ["DataIntegrityProof"]), ("verificationMethod", {"id": "did:example:1#k"}),
    ("verificationMethod", ""), ("proofPurpose", 7), ("proofValue", None), ("proofValue", ["z"]),
    ("id", 5), ("id", ""), ("@context", 5), ("@context", []),
])
def test_proof_fields_of_the_wrong_type_are_proof_errors(alice, field, value):
    document = alice.sign(vc2())
    document["proof"][field] = value
    with pytest.raises(ProofError):
        verify(document, did_key)


@pytest.mark.parametrize(("argument", "value"), [("verification_method", None), ("verification_method", 5),
                                                 ("proof_purpose", ""), ("proof_id", 5), ("created", 5),
                                                 ("private_key", b"\x00" * 32)])
def test_signing_arguments_of_the_wrong_type_are_proof_errors(alice, argument, value):
    arguments = {"document": vc2(), "private_key": alice.key, "verification_method": alice.vm, "created": CREATED}
    arguments[argument] = value
    with pytest.raises(ProofError):
        dataintegrity.sign(**arguments)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3),
                           max_leaves=8)
PROOF_FIELDS = ["type", "cryptosuite", "verificationMethod", "proofPurpose", "proofValue", "created", "expires",
                "id", "previousProof", "@context"]


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(PROOF_FIELDS), json_values, min_size=1, max_size=4),
       as_set=st.booleans())
def test_garbage_in_a_proof_is_only_ever_a_proof_error_or_invalid(alice, changes, as_set):
    document = alice.sign(vc2(), proof_id="urn:uuid:p")
    document["proof"].update(changes)
    if as_set:
        document["proof"] = [document["proof"], {"type": "DataIntegrityProof", **changes}]
    try:
        result = verify_all(document, alice.public)
    except (ProofError, JsonLdDocumentError):
        return
    assert not result.valid  # every change here changes what the signature covers


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_garbage_documents_are_only_ever_proof_errors(alice, document):
    for call in (lambda: verify_all(document, alice.public), lambda: alice.sign(document),
                 lambda: dataintegrity.find_proof(document)):
        try:
            call()
        except (ProofError, JsonLdDocumentError):
            pass


# -- the verifier's document verdict -----------------------------------------------------

def ob3(signer: Signer) -> dict[str, Any]:
    document = json.loads((REPO / "tests" / "interop" / "ob3-credential.json").read_text())
    document["issuer"]["id"] = signer.did
    return document


def test_the_verdict_needs_every_eddsa_proof_of_the_set(alice, bob):
    both = bob.sign(alice.sign(ob3(alice)))
    verdict = document_verdict(both)
    assert verdict.format_error is None and verdict.signature_valid is True
    assert verdict.verification_method == alice.vm and verdict.public_key == "0x" + alice.public.hex()
    assert verdict.signed_at == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert verdict.credential_hash == "0x" + credential_hash(both).hex()
    flip_signature(both["proof"][1])
    tampered = document_verdict(both)
    assert tampered.signature_valid is False and tampered.signature_error is None
    assert tampered.credential_hash == verdict.credential_hash


def test_the_verdict_of_a_chain(alice, bob):
    chained = bob.sign(alice.sign(ob3(alice), proof_id="urn:uuid:first"), previous_proof="urn:uuid:first")
    assert document_verdict(chained).signature_valid is True
    dangling = {**chained, "proof": [chained["proof"][1]]}
    verdict = document_verdict(dangling)
    assert verdict.signature_valid is False and "names no proof" in verdict.signature_error
    assert verdict.verification_method == bob.vm


def test_the_verdict_says_why_an_expired_proof_fails(alice):
    verdict = document_verdict(alice.sign(ob3(alice), expires="2026-11-23T00:00:00Z"))
    assert verdict.signature_valid is False and "expired at 2026-11-23T00:00:00Z" in verdict.signature_error


def test_the_verdict_of_a_proof_without_created_has_no_signing_time(alice):
    verdict = document_verdict(alice.sign(ob3(alice), created=None))
    assert verdict.signature_valid is True and verdict.signed_at is None


def test_every_proof_of_the_set_must_name_a_usable_key(alice, bob):
    both = bob.sign(alice.sign(ob3(alice)))
    both["proof"][1]["verificationMethod"] = "did:web:example.com#key-1"
    verdict = document_verdict(both)
    assert verdict.signature_valid is None and "multikey" in verdict.signature_error
    assert verdict.credential_hash == "0x" + credential_hash(both).hex()


@pytest.mark.parametrize("proof", [5, [5], "proof", [{"cryptosuite": "eddsa-rdfc-2022"}]], ids=repr)
def test_the_verdict_of_garbage_proofs_is_a_signature_error(alice, proof):
    verdict = document_verdict({**ob3(alice), "proof": proof})
    assert verdict.signature_valid is None and verdict.signature_error

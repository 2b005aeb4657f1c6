"""eddsa-rdfc-2022 against the W3C vc-di-eddsa test vectors, byte for byte.

The vectors live in ../shared/reference/vc-di-eddsa (w3c/vc-di-eddsa, TestVectors); they are
read in place, not copied. The `employ/` case needs the citizenship context, which the
product does not bundle: it comes from node_modules through the loader's ``extra``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import dataintegrity, multiformats
from services.core.jsonld import StaticDocumentLoader, canonicalize, credential_hash

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "reference" / "vc-di-eddsa"
CITIZENSHIP = REPO / "node_modules" / "@digitalbazaar" / "citizenship-context" / "contexts" / "v4rc1.jsonld"
CASES = {"main": ("unsigned.json", "eddsa-rdfc-2022"), "employ": ("employmentAuth.json", "eddsa-rdfc-2022/employ")}

if not VECTORS.is_dir():
    pytest.skip(f"W3C vc-di-eddsa vectors not found at {VECTORS}", allow_module_level=True)


@pytest.fixture(scope="module")
def loader() -> StaticDocumentLoader:
    if not CITIZENSHIP.is_file():
        pytest.skip(f"citizenship context not found at {CITIZENSHIP} (run npm ci)")
    return StaticDocumentLoader(extra={"https://w3id.org/citizenship/v4rc1": json.loads(CITIZENSHIP.read_text())})


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    pair = json.loads((VECTORS / "keyPair.json").read_text())
    return Ed25519PrivateKey.from_private_bytes(multiformats.decode_private_key(pair["privateKeyMultibase"]))


@pytest.fixture(scope="module")
def public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Case:
    def __init__(self, name: str) -> None:
        unsigned, folder = CASES[name]
        self.folder = VECTORS / folder
        self.unsigned = json.loads((VECTORS / unsigned).read_text())
        self.proof_config = self.json("proofConfigDataInt.json")
        self.signed = self.json("signedDataInt.json")

    def text(self, name: str) -> str:
        return (self.folder / name).read_text()

    def json(self, name: str) -> dict:
        return json.loads(self.text(name))


@pytest.fixture(params=sorted(CASES))
def case(request) -> Case:
    return Case(request.param)


def test_key_pair_round_trips_through_multikey(public_key):
    pair = json.loads((VECTORS / "keyPair.json").read_text())
    assert multiformats.encode_public_key(public_key) == pair["publicKeyMultibase"]
    assert multiformats.decode_public_key(pair["publicKeyMultibase"]) == public_key


def test_canonical_document_matches(case, loader):
    assert canonicalize(case.unsigned, loader) == case.text("canonDocDataInt.txt")


def test_canonical_proof_config_matches(case, loader):
    assert canonicalize(case.proof_config, loader) == case.text("proofCanonDataInt.txt")


def test_hashes_match(case, loader):
    options = {key: value for key, value in case.proof_config.items() if key != "@context"}
    data = dataintegrity.hash_data(case.unsigned, dataintegrity.proof_config(case.unsigned, options), loader)
    assert data.document_hash.hex() == case.text("docHashDataInt.txt").strip()
    assert data.proof_hash.hex() == case.text("proofHashDataInt.txt").strip()
    assert data.combined.hex() == case.text("combinedHashDataInt.txt").strip()
    assert credential_hash(case.signed, loader) == data.document_hash


def test_signing_reproduces_the_signed_credential(case, loader, private_key):
    options = case.proof_config
    signed = dataintegrity.sign_and_hash(case.unsigned, private_key, options["verificationMethod"],
                                         options["created"], loader=loader)
    signature = multiformats.multibase_decode(signed.proof["proofValue"])
    assert signature.hex() == case.text("sigHexDataInt.txt").strip()
    assert signed.proof["proofValue"] == case.text("sigBTC58DataInt.txt").strip()
    assert signed.document == case.signed
    assert signed.document_hash == hashlib.sha256(case.text("canonDocDataInt.txt").encode()).digest()


def test_signed_credential_verifies(case, loader, public_key):
    result = dataintegrity.verify(case.signed, lambda method: public_key, loader=loader)
    assert result.valid
    assert result.document_hash.hex() == case.text("docHashDataInt.txt").strip()
    assert result.verification_method == case.proof_config["verificationMethod"]
    assert result.created.isoformat() == "2023-02-24T23:36:38+00:00"


def test_a_changed_value_does_not_verify(case, loader, public_key):
    tampered = copy.deepcopy(case.signed)
    tampered["name"] = tampered.get("name", "") + "!"
    assert not dataintegrity.verify(tampered, public_key, loader=loader).valid


def test_a_flipped_signature_byte_does_not_verify(case, loader, public_key):
    tampered = copy.deepcopy(case.signed)
    signature = bytearray(multiformats.multibase_decode(tampered["proof"]["proofValue"]))
    signature[17] ^= 0x01
    tampered["proof"]["proofValue"] = multiformats.multibase_encode(bytes(signature))
    assert not dataintegrity.verify(tampered, public_key, loader=loader).valid


ANCHOR_PROOF = {"type": "DataIntegrityProof", "cryptosuite": "microcred-anchor-2026", "created": "2023-03-01T00:00:00Z",
                "proofPurpose": "assertionMethod", "verificationMethod": "eip155:31337:0x0000000000000000000000000000000000000001",
                "proofValue": "z2VfUX"}


def test_a_second_proof_in_the_set_is_ignored_and_not_hashed(loader, public_key):
    case = Case("main")
    with_anchor = {**case.signed, "proof": [case.signed["proof"], ANCHOR_PROOF]}
    result = dataintegrity.verify(with_anchor, public_key, loader=loader)
    assert result.valid
    assert result.document_hash.hex() == case.text("docHashDataInt.txt").strip()
    assert credential_hash(with_anchor, loader) == result.document_hash


def test_signing_a_document_that_has_a_proof_adds_to_the_set(loader, private_key, public_key):
    case = Case("main")
    anchored = {**case.unsigned, "proof": ANCHOR_PROOF}
    options = case.proof_config
    signed = dataintegrity.sign(anchored, private_key, options["verificationMethod"], options["created"], loader=loader)
    assert signed["proof"] == [ANCHOR_PROOF, case.signed["proof"]]
    assert dataintegrity.verify(signed, public_key, loader=loader).valid


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.pop("proofValue"), "proofValue"),
    (lambda p: p.update(proofValue="u" + p["proofValue"][1:]), "proofValue"),
    (lambda p: p.update(proofValue="z0OIl"), "proofValue"),
    (lambda p: p.update(proofValue=p["proofValue"][:-4]), "64-byte"),
    (lambda p: p.update(proofValue=12), "proofValue"),
    (lambda p: p.update(type="Ed25519Signature2020"), "type"),
    (lambda p: p.update(created="yesterday"), "created"),
    (lambda p: p.pop("verificationMethod"), "verificationMethod"),
    (lambda p: p.update(proofPurpose="authentication"), "proofPurpose"),
    (lambda p: p.update(cryptosuite="eddsa-jcs-2022"), "no eddsa-rdfc-2022 proof"),
])
def test_a_malformed_proof_is_rejected_with_a_clear_error(loader, public_key, change, message):
    document = copy.deepcopy(Case("main").signed)
    change(document["proof"])
    with pytest.raises(dataintegrity.ProofError, match=message):
        dataintegrity.verify(document, public_key, loader=loader)


def test_a_wrong_size_public_key_is_a_proof_error_not_a_crypto_exception(loader):
    with pytest.raises(dataintegrity.ProofError, match="32-byte"):
        dataintegrity.verify(Case("main").signed, b"\x01" * 31, loader=loader)


def test_created_must_be_timezone_aware(private_key):
    with pytest.raises(ValueError, match="timezone"):
        dataintegrity.sign(Case("main").unsigned, private_key, "did:example:1#k", datetime(2026, 1, 1))


@pytest.mark.parametrize("value", ["", "z", "u6MkrJVnaZ", "z0OIl", "zé", "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
                                   "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbT"])
def test_a_bad_multikey_is_a_multiformat_error(value):
    with pytest.raises(multiformats.MultiformatError):
        multiformats.decode_public_key(value)


def test_multibase_round_trips():
    for data in (b"", b"\x00\x00\x01", bytes(range(256))):
        assert multiformats.multibase_decode(multiformats.multibase_encode(data)) == data

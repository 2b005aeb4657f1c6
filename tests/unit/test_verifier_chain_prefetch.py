"""The verifier sends its one chain read as soon as the credential hash is known, before the
signature is checked, and decides on it exactly as before (services/verifier/checker.py).

The chain here is an in-memory stand-in that records what it is asked: this tests the order and
the use of the answer. The same path against a real anvil chain is tests/e2e/test_verification.py.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from services.core import anchorproof, dataintegrity
from services.core.jsonld import credential_hash
from services.core.merkle import MerkleTree
from services.core.multiformats import encode_public_key
from services.issuer.credentials import document as cred
from services.verifier.chainview import AnchorOnChain, ChainReadError, IssuerRecord
from services.verifier.checker import Checker

CHAIN_ID = 31337
CONTRACT = "0x" + "ab" * 20
ACCOUNT = "0x" + "cd" * 20
DID = "did:web:issuer.example:issuers:prefetch"


class RecordingChain:
    """Answers a verification's read like the contract would, and notes when it was asked."""

    def __init__(self, events: list, public_key: str, fail: bool = False) -> None:
        self.events = events
        self.public_key = public_key
        self.fail = fail
        self.address = CONTRACT
        self.known_chain_id = CHAIN_ID
        self.reads: list[dict] = []

    async def chain_id(self) -> int:
        return self.known_chain_id

    async def read_for_verification(self, **read):
        self.events.append("read")
        self.reads.append(read)
        await asyncio.sleep(0.01)  # the chain takes its time; the signature is checked meanwhile
        if self.fail:
            raise ChainReadError("the chain did not answer within 3s")
        return [AnchorOnChain(ACCOUNT, 1_700_000_000, 5), 10,
                IssuerRecord(DID, True, 0, ((self.public_key, 0, 0, False),)), True, 0]


def _anchored_credential() -> tuple[dict, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    multikey = encode_public_key(raw)
    profile = cred.profile_document(cred.ProfileData(did=DID, name="Prefetch College", url="https://p.example",
                                                     email="a@p.example"))
    achievement = cred.achievement_document(cred.AchievementData(
        id_url="https://issuer.example/public/achievements/ach_p", name="Critical Thinking",
        description="Weighs evidence.", criteria_narrative="Passed.", achievement_type="MicroCredential"))
    document = cred.build_credential(
        credential_id=cred.new_credential_id(), public_base_url="https://verify.example", profile=profile,
        achievement=achievement, recipient_name="Ada", recipient_email="ada@example.org", salt=cred.new_salt(),
        valid_from=datetime(2026, 1, 1, tzinfo=UTC), valid_until=None, status=None)
    signed = dataintegrity.sign(document, key, f"{DID}#{multikey}", "2026-01-01T00:00:00Z")
    leaf = credential_hash(signed)
    tree = MerkleTree.build([leaf])
    receipt = anchorproof.AnchorReceipt(chain_id=CHAIN_ID, contract=CONTRACT, account=ACCOUNT,
                                        root="0x" + tree.root.hex(), path=tuple("0x" + p.hex() for p in tree.proof(leaf)),
                                        tx_hash="0x" + "22" * 32, block_number=5)
    signed["proof"] = [signed["proof"], anchorproof.encode(receipt, "2026-01-01T00:00:10Z")]
    return signed, "0x" + raw.hex()


@pytest.fixture
def signature_events(monkeypatch):
    events: list[str] = []
    real = dataintegrity._signature_valid

    def recording(*args):
        events.append("signature")
        return real(*args)

    monkeypatch.setattr(dataintegrity, "_signature_valid", recording)
    return events


def _checker(chain) -> Checker:
    checker = Checker(chain=None, http=None, registry_url=None, issuer_url=None, public_base_url="https://verify.example")
    checker.chain = chain
    return checker


def test_the_chain_read_goes_out_before_the_signature_is_checked_and_decides_the_report(signature_events):
    document, public_key = _anchored_credential()
    chain = RecordingChain(signature_events, public_key)
    report = asyncio.run(_checker(chain).verify_document(document))
    assert signature_events == ["read", "signature"]  # one read, sent first
    assert chain.reads[0]["credential_hash"] == "0x" + credential_hash(document).hex()
    statuses = {c.id: c.status for c in report.checks}
    assert statuses["signature"] == statuses["integrity"] == statuses["anchor"] == statuses["issuer"] == "passed"
    assert report.anchor["blockNumber"] == 5 and report.anchor["confirmations"] == 6


def test_a_tampered_credential_is_read_with_its_own_hash_and_fails(signature_events):
    document, public_key = _anchored_credential()
    tampered = copy.deepcopy(document)
    tampered["credentialSubject"]["name"] = "Mallory"
    chain = RecordingChain(signature_events, public_key)
    report = asyncio.run(_checker(chain).verify_document(tampered))
    assert chain.reads[0]["credential_hash"] == "0x" + credential_hash(tampered).hex()
    statuses = {c.id: c.status for c in report.checks}
    assert statuses["signature"] == "failed" and statuses["integrity"] == "failed"
    assert report.status == "invalid"


def test_a_malformed_document_reads_nothing(signature_events):
    document, public_key = _anchored_credential()
    document["credentialSubject"] = "not an object"
    chain = RecordingChain(signature_events, public_key)
    report = asyncio.run(_checker(chain).verify_document(document))
    assert chain.reads == [] and signature_events == []
    assert {c.id: c.status for c in report.checks}["format"] == "failed"


def test_a_chain_that_fails_during_the_signature_check_fails_closed(signature_events):
    document, public_key = _anchored_credential()
    chain = RecordingChain(signature_events, public_key, fail=True)
    report = asyncio.run(_checker(chain).verify_document(document))
    assert signature_events == ["read", "signature"]
    statuses = {c.id: c.status for c in report.checks}
    assert statuses["signature"] == "passed"
    assert "passed" not in (statuses["anchor"], statuses["issuer"], statuses["revocation"])
    assert report.status != "valid"


def test_a_receipt_for_another_chain_is_not_read_early(signature_events):
    document, public_key = _anchored_credential()
    chain = RecordingChain(signature_events, public_key)
    chain.known_chain_id = 1  # the verifier reads mainnet; the receipt names 31337
    report = asyncio.run(_checker(chain).verify_document(document))
    assert chain.reads == []
    assert "does not read" in {c.id: c.message for c in report.checks}["anchor"]


class LaggingHeadChain(RecordingChain):
    """The batch's head (kept for a second) is one block short of the confirmations; the chain's own is not."""

    def __init__(self, events: list, public_key: str, fresh_head: int | Exception) -> None:
        super().__init__(events, public_key)
        self.fresh_head = fresh_head

    async def read_for_verification(self, **read):
        answer = await super().read_for_verification(**read)
        answer[1] = 5  # block 5 anchored, head 5: one confirmation of the two asked
        return answer

    async def head(self, *, fresh: bool = False) -> int:
        self.events.append(f"head fresh={fresh}")
        if isinstance(self.fresh_head, Exception):
            raise self.fresh_head
        return self.fresh_head


@pytest.mark.parametrize("fresh_head,anchor,confirmations", [
    (6, "passed", 2),  # the chain moved on: confirmed, as the registry already says
    (5, "pending", 1),  # it did not: still pending
    (ChainReadError("the chain did not answer within 3s"), "pending", 1),  # no fresh head: the batch's stands
])
def test_short_of_confirmations_by_the_kept_head_the_chain_is_asked_its_head(signature_events, fresh_head, anchor,
                                                                              confirmations):
    document, public_key = _anchored_credential()
    chain = LaggingHeadChain(signature_events, public_key, fresh_head)
    checker = _checker(chain)
    checker.confirmations = 2
    report = asyncio.run(checker.verify_document(document))
    assert "head fresh=True" in signature_events
    assert {c.id: c.status for c in report.checks}["anchor"] == anchor
    assert report.anchor["confirmations"] == confirmations

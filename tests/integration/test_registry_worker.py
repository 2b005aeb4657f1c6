"""The anchoring worker on a real anvil chain and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest
from eth_account import Account
from sqlalchemy import select

from services.core.db import make_engine, make_sessionmaker, transaction
from services.core.merkle import verify_proof
from services.registry import service
from services.registry.chain import Web3Chain
from services.registry.models import AccountState, Anchor, ChainAccount, ChainJob, ItemState, JobKind, JobState
from services.registry.schemas import AnchorsIn, HashesIn, IssuerCreate
from services.registry.settings import RegistrySettings
from services.registry.worker import Worker


def _h() -> str:
    return "0x" + os.urandom(32).hex()


class Harness:
    def __init__(self, chain, database_url, tmp_path, **settings):
        self.chain = chain
        self.settings = RegistrySettings(
            data_dir=tmp_path, database_url=database_url, contract_address=chain.address, eth_rpc_url=chain.rpc_url,
            service_token="t" * 32, admin_token="a" * 32, key_encryption_key="k" * 32,
            owner_private_key=chain.owner_key, anchor_interval=3600, resend_after=5.0, **settings)
        self.engine = make_engine(database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.adapter = Web3Chain(chain.rpc_url, chain.address)
        self.owner = Account.from_key(chain.owner_key)
        self.accounts: list[str] = []  # issuer accounts this test created: other tests share the chain

    def worker(self, holder: str | None = None, cls=Worker) -> Worker:
        return cls(self.settings, self.sessions, self.adapter, bytes(self.owner.key), self.owner.address, holder)

    def create_issuer(self, issuer_id: str = "iss_a") -> str:
        with transaction(self.sessions) as s:
            read, _ = service.create_issuer(s, self.settings, self.owner.address, IssuerCreate(
                issuer_id=issuer_id, did=f"did:web:example.org:issuers:{issuer_id}", public_key=_h()))
        self.accounts.append(read.address)
        worker = self.worker()
        for _ in range(5):
            worker.tick()
            self.chain.mine(1)  # automine makes a block per transaction only
            with self.sessions() as s:
                if s.scalar(select(ChainAccount.state).where(ChainAccount.issuer_id == issuer_id)) == AccountState.active:
                    return read.address
        raise AssertionError("issuer never became active")

    def queue(self, hashes, issuer_id="iss_a"):
        with transaction(self.sessions) as s:
            return service.queue_anchors(s, HashesIn(issuer_id=issuer_id, hashes=hashes))

    def anchors(self) -> dict[str, tuple[Anchor, ChainJob]]:
        with self.sessions() as s:
            rows = s.execute(select(Anchor, ChainJob).outerjoin(ChainJob, Anchor.job_id == ChainJob.id)).all()
            return {a.hash: (a, j) for a, j in rows}

    def receipt(self, h: str):
        with self.sessions() as s:
            return service.anchor_receipt(s, self.adapter, self.adapter.head, h)

    def settle(self, worker: Worker, done, passes: int = 20, force_cut: bool = True) -> None:
        """Run worker passes until ``done()``; anvil mines each transaction a moment after it is sent."""
        for _ in range(passes):
            worker.tick(force_cut=force_cut)
            if done():
                return
            time.sleep(0.05)
        raise AssertionError("the worker did not settle")

    def all_confirmed(self) -> bool:
        return {a.state for a, _ in self.anchors().values()} == {ItemState.confirmed}

    def anchored_roots(self) -> list[str]:
        """Roots anchored on chain by this test's issuer accounts."""
        logs = self.chain.contract.events.RootAnchored.get_logs(from_block=0)
        return ["0x" + bytes(log["args"]["root"]).hex() for log in logs if log["args"]["issuer"] in self.accounts]


@pytest.fixture
def harness(chain, database_url, tmp_path):
    h = Harness(chain, database_url, tmp_path)
    yield h
    h.engine.dispose()


def test_issuer_account_is_funded_and_registered_on_chain(harness):
    address = harness.create_issuer()
    did, active, registered_at, key_count = harness.chain.contract.functions.issuer(address).call()
    assert did == "did:web:example.org:issuers:iss_a" and active and registered_at > 0 and key_count == 1
    assert harness.chain.w3.eth.get_balance(address) == harness.settings.fund_wei


def test_queued_hashes_are_anchored_in_one_batch_and_every_receipt_verifies_on_chain(harness):
    address = harness.create_issuer()
    hashes = [_h() for _ in range(37)]
    harness.queue(hashes)
    harness.settle(harness.worker(), harness.all_confirmed)
    roots = set()
    for h in hashes:
        r = harness.receipt(h)
        assert r.state == "confirmed", r
        assert r.chainId == 31337 and r.contract == harness.chain.address and r.account == address
        assert r.confirmations >= 1 and r.blockNumber > 0 and r.txHash.startswith("0x")
        block = harness.chain.w3.eth.get_block(r.blockNumber)
        assert r.anchoredAt == datetime.fromtimestamp(block["timestamp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        proof = [bytes.fromhex(p[2:]) for p in r.proof]
        assert verify_proof(bytes.fromhex(r.root[2:]), bytes.fromhex(h[2:]), proof)
        assert harness.chain.contract.functions.verifyInclusion(r.root, r.proof, h).call()
        roots.add(r.root)
    assert len(roots) == 1
    by, _at, block = harness.chain.contract.functions.anchorOf(roots.pop()).call()
    assert by == address and block == harness.receipt(hashes[0]).blockNumber
    assert len(harness.anchored_roots()) == 1


def test_batches_are_cut_at_max_leaves(chain, database_url, tmp_path):
    harness = Harness(chain, database_url, tmp_path, anchor_max_leaves=10)
    harness.create_issuer()
    hashes = [_h() for _ in range(25)]
    harness.queue(hashes)
    harness.settle(harness.worker(), harness.all_confirmed)
    anchors = harness.anchors()
    sizes = sorted(j.payload["leafCount"] for j in {j.id: j for _, j in anchors.values()}.values())
    assert sizes == [5, 10, 10]
    assert len(harness.anchored_roots()) == 3


def test_a_flushed_batch_is_cut_at_once_and_its_receipts_come_in_one_call(harness):
    """The anchoring interval is an hour here: hashes queued without ``flush`` wait, the last chunk of
    a batch (``flush``) is cut in the next pass with those before it; the bulk receipts equal the single ones."""
    harness.create_issuer()
    earlier, last = [_h() for _ in range(30)], [_h() for _ in range(7)]
    harness.queue(earlier)
    worker = harness.worker()
    for _ in range(3):
        worker.tick()
    assert {a.state for a, _ in harness.anchors().values()} == {ItemState.queued}, "nothing is due yet"
    with transaction(harness.sessions) as s:
        service.queue_anchors(s, AnchorsIn(issuer_id="iss_a", hashes=last, flush=True))
    harness.settle(worker, harness.all_confirmed, force_cut=False)
    assert len(harness.anchored_roots()) == 1  # one root for the whole batch
    unknown = _h()
    with harness.sessions() as s:
        bulk = service.anchor_receipts(s, harness.adapter, harness.adapter.head, [*earlier, *last, unknown])
    assert bulk[-1] is None
    assert [r.model_dump() for r in bulk[:-1]] == [harness.receipt(h).model_dump() for h in [*earlier, *last]]


def test_receipt_waits_for_the_configured_confirmations(chain, database_url, tmp_path):
    harness = Harness(chain, database_url, tmp_path, confirmations=3)
    harness.create_issuer()
    harness.chain.mine(3)
    h = _h()
    harness.queue([h])
    worker = harness.worker()
    harness.settle(worker, lambda: harness.receipt(h).blockNumber is not None)
    assert harness.receipt(h).state == "submitted"
    assert harness.receipt(h).confirmations == 1
    harness.chain.mine(1)
    worker.tick()
    assert harness.receipt(h).state == "submitted"
    harness.chain.mine(1)
    worker.tick()
    assert harness.receipt(h).state == "confirmed" and harness.receipt(h).confirmations == 3


def test_revocations_are_batched_and_recorded_under_the_issuers_account(harness):
    address = harness.create_issuer()
    hashes = [_h() for _ in range(5)]
    with transaction(harness.sessions) as s:
        service.queue_revocations(s, HashesIn(issuer_id="iss_a", hashes=hashes))

    def revoked() -> bool:
        with harness.sessions() as s:
            return all(r.state == "confirmed" for h in hashes for r in service.revocation_state(s, h))

    harness.settle(harness.worker(), revoked)
    for h in hashes:
        assert harness.chain.contract.functions.revokedAt(address, h).call() > 0
    with harness.sessions() as s:
        assert [r.state for r in service.revocation_state(s, hashes[0])] == ["confirmed"]


def test_a_reorg_that_drops_the_anchor_makes_the_worker_anchor_the_batch_again(harness):
    address = harness.create_issuer()
    before = harness.chain.snapshot()
    hashes = [_h() for _ in range(4)]
    harness.queue(hashes)
    worker = harness.worker()
    harness.settle(worker, harness.all_confirmed)
    first = harness.receipt(hashes[0])
    # The re-org: the block holding the anchoring transaction is gone, then the chain moves on.
    harness.chain.revert(before)
    harness.chain.mine(3)
    assert harness.chain.contract.functions.anchorOf(first.root).call()[0] == "0x" + "00" * 20
    # The worker notices the transaction left the chain and sends it again.
    harness.settle(worker, lambda: harness.all_confirmed() and harness.receipt(hashes[0]).blockNumber > first.blockNumber)
    again = harness.receipt(hashes[0])
    assert again.state == "confirmed"
    assert again.root == first.root and again.proof == first.proof
    assert again.txHash != first.txHash or again.blockNumber != first.blockNumber
    by, _at, block = harness.chain.contract.functions.anchorOf(first.root).call()
    assert by == address and block == again.blockNumber
    assert harness.anchored_roots() == [first.root]


class LostBroadcastWorker(Worker):
    """Signs and records the transaction, then "crashes" before it reaches the chain."""

    def _broadcast(self, job):
        return None


def test_a_transaction_signed_but_never_broadcast_is_sent_by_the_next_worker_exactly_once(harness):
    harness.create_issuer()
    hashes = [_h() for _ in range(6)]
    harness.queue(hashes)
    harness.worker(cls=LostBroadcastWorker).tick(force_cut=True)
    assert {a.state for a, _ in harness.anchors().values()} == {ItemState.submitted}
    assert harness.anchored_roots() == []
    successor = harness.worker(holder="successor")
    # The lease of the "crashed" worker is still held: the successor waits for it to expire.
    with transaction(harness.sessions) as s:
        from services.registry.models import Lease
        for lease in s.scalars(select(Lease)):
            lease.expires_at = lease.expires_at.replace(year=2000)
    harness.settle(successor, harness.all_confirmed)
    assert len(harness.anchored_roots()) == 1


def test_a_job_whose_effect_is_already_on_chain_is_adopted_not_repeated(harness):
    """A worker that crashed after the chain took its transaction, but before it wrote that down."""
    harness.create_issuer()
    hashes = [_h() for _ in range(3)]
    harness.queue(hashes)
    worker = harness.worker()
    harness.settle(worker, harness.all_confirmed)
    # Forget everything the worker learnt: the job looks unsent again.
    with transaction(harness.sessions) as s:
        job = s.scalar(select(ChainJob).where(ChainJob.kind == JobKind.anchor))
        tx_hash = job.tx_hash
        job.state, job.tx_hash, job.raw_tx, job.block_number, job.block_hash = JobState.pending, None, None, None, None
        job.attempts = 1
    harness.settle(worker, harness.all_confirmed)
    assert harness.receipt(hashes[0]).state == "confirmed"
    assert harness.receipt(hashes[0]).txHash == tx_hash
    assert len(harness.anchored_roots()) == 1


def test_two_workers_never_both_send_for_one_account(harness):
    harness.create_issuer()
    hashes = [_h() for _ in range(50)]
    harness.queue(hashes)
    workers = [harness.worker(holder=f"w{i}") for i in range(2)]
    errors: list[BaseException] = []

    def run(w):
        try:
            for _ in range(3):
                w.tick(force_cut=True)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    harness.settle(workers[0], harness.all_confirmed)
    anchors = harness.anchors()
    roots = harness.anchored_roots()
    assert len(roots) == len(set(roots)) == len({j.root for _, j in anchors.values()})


def test_a_suspended_issuer_keeps_its_hashes_queued_until_reinstated(harness):
    address = harness.create_issuer()
    owner = harness.owner
    fn = harness.chain.contract.functions.setIssuerActive(address, False)
    tx = fn.build_transaction({"from": owner.address, "nonce": harness.chain.w3.eth.get_transaction_count(owner.address)})
    harness.chain.w3.eth.send_raw_transaction(owner.sign_transaction(tx).raw_transaction)
    h = _h()
    harness.queue([h])

    def failed() -> bool:
        with harness.sessions() as s:
            return s.scalar(select(ChainJob.state).where(ChainJob.kind == JobKind.anchor)) == JobState.failed

    harness.settle(harness.worker(), failed)
    with harness.sessions() as s:
        failed = s.scalar(select(ChainJob).where(ChainJob.kind == JobKind.anchor))
        assert failed.state == JobState.failed and "IssuerNotActive" in failed.last_error
    assert harness.receipt(h).state == "queued"  # given back to the queue, not lost

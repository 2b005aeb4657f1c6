"""Work, not tenants, sets the worker's cost: a pass touches only the accounts that have work
(real anvil, SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from services.core.db import transaction
from services.registry import repository as repo, service
from services.registry.models import AccountState, ChainAccount, ChainJob, JobKind, JobState
from services.registry.schemas import IssuerCreate
from services.registry.wakeup import Wakeup
from services.registry.worker import Worker
from tests.integration.test_registry_worker import Harness, _h


class RecordingWorker(Worker):
    """The real worker, noting which senders each pass worked on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.processed: list[str] = []

    def _process_sender(self, sender, *args, **kwargs):
        self.processed.append(sender)
        return super()._process_sender(sender, *args, **kwargs)


class CountingChain:
    """The real chain adapter, counting the calls made through it."""

    def __init__(self, chain) -> None:
        self._chain = chain
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._chain, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def harness(chain, database_url, tmp_path):
    h = Harness(chain, database_url, tmp_path)
    yield h
    h.engine.dispose()


def _issuers(harness: Harness, worker: Worker, count: int) -> list[str]:
    """``count`` active issuer accounts, registered by ``worker`` (one holder for the owner's lease)."""
    with transaction(harness.sessions) as s:
        reads = [service.create_issuer(s, harness.settings, harness.owner.address, IssuerCreate(
            issuer_id=f"iss_{i}", did=f"did:web:example.org:issuers:iss_{i}", public_key=_h()))[0]
                 for i in range(count)]
    harness.accounts += [r.address for r in reads]
    for _ in range(20):
        worker.tick()
        with harness.sessions() as s:
            if s.scalar(select(func.count()).where(ChainAccount.state == AccountState.active)) == count:
                return [r.address for r in reads]
    raise AssertionError("the issuers never became active")


def _settled(harness: Harness, worker: Worker) -> None:
    """Passes until the worker finds nothing to do (the chain has stopped moving under it)."""
    for _ in range(10):
        if not worker.tick():
            return
    raise AssertionError("the worker never went idle")


def test_a_pass_works_only_on_the_accounts_that_have_work(harness):
    worker = harness.worker(cls=RecordingWorker)
    addresses = _issuers(harness, worker, 4)
    harness.chain.mine(harness.settings.reorg_window + 1)  # their registrations leave the re-org window
    _settled(harness, worker)
    worker.processed.clear()
    assert worker.tick() is False and worker.processed == []  # idle: no account is touched

    hashes = [_h() for _ in range(3)]
    harness.queue(hashes, issuer_id="iss_2")
    with harness.sessions() as s:
        due = repo.due_work(s, None)
    assert set(due) == {addresses[2]} and due[addresses[2]] is not None  # its account id: batches may be cut
    harness.settle(worker, harness.all_confirmed)
    # Only the account with hashes, and the same account again once its anchor is in flight.
    assert set(worker.processed) == {addresses[2]}
    _settled(harness, worker)
    assert {a.job_id is not None for a, _ in harness.anchors().values()} == {True}


def test_an_idle_pass_between_looks_at_the_chain_makes_no_chain_call(harness):
    harness.create_issuer()
    counting = CountingChain(harness.adapter)
    worker = Worker(harness.settings, harness.sessions, counting, bytes(harness.owner.key), harness.owner.address)
    _settled(harness, worker)
    counting.calls.clear()
    assert worker.tick(look_at_chain=False) is False
    assert counting.calls == []
    # Work queued meanwhile is found by that same one query, and the pass then goes to the chain.
    hashes = [_h() for _ in range(2)]
    harness.queue(hashes)
    assert worker.tick(force_cut=True, look_at_chain=False) is True
    assert "head_block" in counting.calls
    harness.settle(worker, harness.all_confirmed)


def test_a_reorg_to_the_same_height_is_noticed(harness):
    """The worker re-reads settled jobs only when the head block changed: by its hash, so a re-org
    that ends at the same height as before still sends the dropped anchor again."""
    harness.create_issuer()
    worker = harness.worker()
    _settled(harness, worker)
    before = harness.chain.snapshot()
    hashes = [_h() for _ in range(2)]
    harness.queue(hashes)
    harness.settle(worker, harness.all_confirmed)
    first = harness.receipt(hashes[0])
    height = harness.adapter.head()
    harness.chain.revert(before)
    harness.chain.mine(height - harness.adapter.head())
    assert harness.adapter.head() == height
    assert harness.chain.contract.functions.anchorOf(first.root).call()[0] == "0x" + "00" * 20
    harness.settle(worker, lambda: harness.all_confirmed()
                   and harness.chain.contract.functions.anchorOf(first.root).call()[0] != "0x" + "00" * 20)
    again = harness.receipt(hashes[0])
    assert again.root == first.root and again.state == "confirmed"
    with harness.sessions() as s:
        jobs = s.scalars(select(ChainJob).where(ChainJob.kind == JobKind.anchor)).all()
    assert len(jobs) == 1 and jobs[0].state == JobState.confirmed and jobs[0].attempts == 2


def test_queued_work_wakes_a_waiting_worker(harness, database_url):
    """PostgreSQL: the NOTIFY sent with the work; a SQLite file: the commit itself (data_version).
    And nothing else does: a wait with no commit runs its full time."""
    if database_url.startswith("sqlite") and ":memory:" in database_url:
        pytest.skip("an in-memory SQLite database has no other process to wake")
    harness.create_issuer()
    wakeup, stop = Wakeup(database_url), threading.Event()
    try:
        assert wakeup.wait(stop, 0.6) is False  # (starts watching) nothing committed: not woken
        outcome: list[bool] = []
        waiter = threading.Thread(target=lambda: outcome.append(wakeup.wait(stop, 120.0)))
        waiter.start()
        harness.queue([_h()])
        waiter.join(60.0)
        woken = not waiter.is_alive()
        stop.set()
        waiter.join()
        assert woken and outcome == [True], "queueing the hashes did not wake the worker"
    finally:
        wakeup.close()


def test_due_work_leaves_out_settled_jobs_outside_the_reorg_window(harness):
    address = harness.create_issuer()
    harness.queue([_h()])
    harness.settle(harness.worker(), harness.all_confirmed)
    head = harness.adapter.head()
    with transaction(harness.sessions) as s:
        inside = repo.due_work(s, max(0, head - harness.settings.reorg_window))
        after_window = repo.due_work(s, head + 1)
    assert address in inside and harness.owner.address in inside  # confirmed in the window: watched
    assert after_window == {}


def test_a_commit_to_the_sqlite_file_wakes_the_subscribed_worker_threads(tmp_path):
    """services.core.wakeup.on_commit: one watch per file and process sets every subscribed
    event when another connection commits, and nothing else sets them; it ends with its events."""
    import gc
    import sqlite3
    import time

    from services.core import wakeup

    path = tmp_path / "watched.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    url = f"sqlite:///{path}"
    first, second = threading.Event(), threading.Event()
    wakeup.on_commit(url, first)
    wakeup.on_commit(url, second)
    assert len([t for t in threading.enumerate() if t.name == "sqlite-commit-watch"]) >= 1
    time.sleep(4 * wakeup.SQLITE_LOOK)  # it has looked: the baseline is taken
    assert not first.is_set() and not second.is_set(), "woken with nothing committed"
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    assert first.wait(5.0) and second.wait(5.0), "a commit did not wake the subscribed threads"
    first.clear()
    time.sleep(4 * wakeup.SQLITE_LOOK)
    assert not first.is_set(), "woken again with nothing more committed"
    del first, second
    gc.collect()
    deadline = time.monotonic() + 5.0
    while str(path) in wakeup._watches and time.monotonic() < deadline:
        time.sleep(0.1)
    assert str(path) not in wakeup._watches, "the watch outlived every event subscribed to it"

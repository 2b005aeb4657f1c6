"""The revocation index's rules: when it may spare a revokedAt read, and how it follows the logs.

Logic only, so the JSON-RPC batch is a stand-in: a chain of numbered blocks whose hashes change
with its "version" (a re-org or a revert makes a new one), with logs in some of them, answering
``eth_getBlockByNumber`` and ``eth_getLogs`` as a node does — nothing for a block past its head
(tests/integration/test_revocation_index_chain.py runs the index against a real anvil).
"""

from __future__ import annotations

import asyncio

import pytest

from services.verifier.revocations import CREDENTIAL_REVOKED_TOPIC, REORG_WINDOW, RevocationIndex

CONTRACT = "0x" + "ab" * 20
ALICE, BOB = "0x" + "a1" * 20, "0x" + "b2" * 20
H1, H2, H3 = ("0x" + c * 64 for c in "123")


def log(account: str, credential_hash: str, block: int, **extra) -> dict:
    return {"address": CONTRACT, "blockNumber": hex(block), "removed": False, **extra,
            "topics": [CREDENTIAL_REVOKED_TOPIC, "0x" + "0" * 24 + account[2:], credential_hash]}


class Node:
    """A chain's head, its blocks' hashes (``version`` changes them all: a re-org) and its logs."""

    def __init__(self) -> None:
        self.head = 10
        self.version = 0
        self.logs: list[dict] = []
        self.asked: list[tuple[int, int]] = []  # (fromBlock, toBlock) of each eth_getLogs
        self.fail: Exception | None = None
        self.deployed_at = 0  # the contract's code from this block on
        self.after_logs = lambda: None  # what happens on the chain right after a getLogs is answered

    @property
    def asked_from(self) -> list[int]:
        return [low for low, _ in self.asked]

    def block(self, number: int) -> dict | None:
        if number > self.head:
            return None
        return {"number": hex(number), "hash": "0x" + f"{self.version:08x}{number:056x}"}

    async def batch(self, requests: list[dict]) -> list:
        if self.fail is not None:
            raise self.fail
        return [self.answer(request) for request in requests]

    def answer(self, request: dict):
        params = request["params"]
        if request["method"] == "eth_getBlockByNumber":
            return self.block(self.head if params[0] == "latest" else int(params[0], 16))
        if request["method"] == "eth_getCode":
            assert params[0] == CONTRACT
            return "0x6080" if int(params[1], 16) >= self.deployed_at else "0x"
        assert request["method"] == "eth_getLogs"
        query = params[0]
        assert query["address"] == CONTRACT and query["topics"] == [CREDENTIAL_REVOKED_TOPIC]
        low, high = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        if high > self.head:
            raise RuntimeError("block range extends beyond current head block")  # as anvil and geth answer
        self.asked.append((low, high))
        answer = [entry for entry in self.logs if low <= int(entry["blockNumber"], 16) <= high]
        self.after_logs()
        return answer


@pytest.fixture
def clock():
    return [100.0]


@pytest.fixture
def node():
    return Node()


@pytest.fixture
def index(node, clock):
    return RevocationIndex(node.batch, CONTRACT, fresh=1.0, retry_after=30.0, clock=lambda: clock[0])


def run(coro):
    return asyncio.run(coro)


async def _clears(index, account, credential_hash):
    return index.clears(account, credential_hash)


def clears(index, account, credential_hash) -> bool:
    return run(_clears(index, account, credential_hash))


def test_never_synced_it_clears_nothing_and_starts_a_sync_in_the_background(index, node):
    node.logs = [log(ALICE, H1, 3)]

    async def main():
        assert index.clears(ALICE, H2) is False  # unknown: ask the contract
        await asyncio.sleep(0)  # the sync it started runs
        assert node.asked == [(0, 10)]
        return index.clears(ALICE, H2), index.clears(ALICE, H1)

    assert run(main()) == (True, False)


def test_a_revoked_hash_is_never_cleared_and_others_only_for_their_own_account(index, node):
    node.logs = [log(ALICE, H1, 3), log(BOB, H2, 4)]
    run(index.sync())
    assert [clears(index, a, h) for a, h in ((ALICE, H1), (BOB, H2), (BOB, H1), (ALICE, H2), (ALICE, H3))] == \
        [False, False, True, True, True]
    assert clears(index, "0x" + ALICE[2:].upper(), "0x" + H1[2:].upper()) is False


def test_older_than_its_freshness_it_clears_nothing(index, clock):
    run(index.sync())

    async def main():  # no sync runs between the two (neither awaits)
        clock[0] += 0.9
        fresh = index.clears(ALICE, H1)
        clock[0] += 0.2  # 1.1 s since the sync started
        return fresh, index.clears(ALICE, H1)

    assert run(main()) == (True, False)


def test_its_age_counts_from_before_the_head_was_asked(node, clock):
    async def slow_batch(requests):
        if requests[0]["params"][0] == "latest":
            clock[0] += 0.7  # the node takes its time: what is seen was complete as of the asking only
        return await node.batch(requests)

    index = RevocationIndex(slow_batch, CONTRACT, fresh=1.0, clock=lambda: clock[0])
    run(index.sync())
    assert index.age == pytest.approx(0.7)
    clock[0] += 0.4
    assert clears(index, ALICE, H1) is False


def test_past_half_its_freshness_a_verification_starts_the_next_sync(index, node, clock):
    node.head = 100
    run(index.sync())

    async def main():
        clock[0] += 0.3
        index.clears(ALICE, H1)
        await asyncio.sleep(0)
        clock[0] += 0.3  # 0.6 s: past half
        node.logs = [log(ALICE, H1, 101)]
        node.head = 101
        assert index.clears(ALICE, H1) is True  # still fresh: used, and a sync starts
        index.clears(ALICE, H2)  # one sync at a time
        await asyncio.sleep(0)
        return index.clears(ALICE, H1)

    assert run(main()) is False
    assert node.asked == [(0, 100), (100 - REORG_WINDOW + 1, 101)]


def test_each_sync_reads_the_last_blocks_again_and_replaces_what_it_held_there(index, node):
    node.head = 200
    node.logs = [log(ALICE, H1, 100), log(ALICE, H2, 190)]
    run(index.sync())
    # The same blocks answer other logs now, though the block read last kept its hash (a node
    # whose logs lagged its blocks): what the window says wins.
    node.logs = [log(ALICE, H1, 100), log(ALICE, H3, 195)]
    node.head = 201
    run(index.sync())
    assert node.asked == [(0, 200), (200 - REORG_WINDOW + 1, 201)]
    assert [clears(index, ALICE, h) for h in (H1, H2, H3)] == [False, True, False]


def test_a_log_a_reorg_took_back_is_not_a_revocation(index, node):
    node.logs = [log(ALICE, H1, 5, removed=True)]
    run(index.sync())
    assert clears(index, ALICE, H1) is True


def test_a_chain_changed_below_what_was_read_is_read_again_from_the_start(index, node, clock):
    # Read up to 350, then the chain is reverted to 100 and mined again past 350, with a
    # revocation at 120: far below the window, and the head is higher than before.
    node.head = 350
    node.logs = [log(ALICE, H1, 250)]
    run(index.sync())
    node.version, node.head, node.logs = 1, 360, [log(BOB, H2, 120)]
    node.asked.clear()
    run(index.sync())
    assert node.asked == [(0, 360)]  # the block read last has another hash: all again
    assert [clears(index, a, h) for a, h in ((ALICE, H1), (BOB, H2))] == [True, False]


def test_while_the_head_is_below_what_was_read_every_hash_is_asked(index, node, clock):
    node.head = 300
    node.logs = [log(ALICE, H1, 210)]
    run(index.sync())
    # A node behind the one read before (or the chain gone back): nothing is decided ...
    node.head = 220
    clock[0] += 0.4
    run(index.sync())
    assert index.syncs == {"ok": 1, "failed": 1}
    assert clears(index, ALICE, H2) is False  # at once, though the last complete sync is 0.4 s old
    # ... and a verification tries again a second later, not after retry_after.
    node.head = 300

    async def verification():
        index.clears(ALICE, H2)
        await asyncio.sleep(0)

    run(verification())
    assert index.syncs == {"ok": 1, "failed": 1}  # within the second: not yet
    clock[0] += 1.0
    run(verification())
    assert index.syncs == {"ok": 2, "failed": 1}
    assert [clears(index, ALICE, h) for h in (H1, H2)] == [False, True]


def test_a_long_chain_is_read_a_page_at_a_time_from_the_contracts_block(node, clock):
    index = RevocationIndex(node.batch, CONTRACT, fresh=1.0, from_block=1_000, page_blocks=400,
                            clock=lambda: clock[0])
    node.head, node.deployed_at = 2_000, 1_000
    node.logs = [log(ALICE, H1, 999), log(ALICE, H2, 1_399), log(BOB, H3, 2_000)]
    run(index.sync())
    assert node.asked == [(1_000, 1_399), (1_400, 1_799), (1_800, 2_000)]
    # Before the contract's block there is nothing of it to read (a stand-in's log there is never asked for).
    assert [clears(index, a, h) for a, h in ((ALICE, H1), (ALICE, H2), (BOB, H3))] == [True, False, False]
    node.head = 2_010
    node.asked.clear()
    run(index.sync())
    assert node.asked == [(2_000 - REORG_WINDOW + 1, 2_010)]


def test_a_sync_that_fails_half_way_keeps_the_pages_it_read_but_is_not_complete(node, clock):
    index = RevocationIndex(node.batch, CONTRACT, fresh=1.0, page_blocks=100, clock=lambda: clock[0])
    node.head = 250
    node.logs = [log(ALICE, H1, 50)]
    answered = node.batch

    async def fails_on_the_third_page(requests):
        if requests[0]["method"] == "eth_getLogs" and requests[0]["params"][0]["fromBlock"] == hex(200):
            raise ConnectionError("reset")
        return await answered(requests)

    index._batch = fails_on_the_third_page
    run(index.sync())
    assert index.age is None and index.syncs == {"ok": 0, "failed": 1}
    assert clears(index, ALICE, H2) is False  # not complete: every hash is asked
    index._batch = answered
    node.asked.clear()
    run(index.sync())
    assert node.asked == [(136, 235), (236, 250)]  # on from what was read (up to 199), the window again
    assert 199 - REORG_WINDOW + 1 == 136
    assert index.syncs == {"ok": 1, "failed": 1}
    assert [clears(index, ALICE, h) for h in (H1, H2)] == [False, True]


@pytest.mark.parametrize("bad", [
    "not a list",
    [{"address": CONTRACT, "topics": [CREDENTIAL_REVOKED_TOPIC], "blockNumber": "0x1"}],  # topics missing
    [log(ALICE, H1, 3, address="0x" + "cd" * 20)],  # another contract's log
    [{**log(ALICE, H1, 3), "topics": ["0x" + "00" * 32, "0x" + "00" * 32, H1]}],  # another event
    [{**log(ALICE, H1, 3), "blockNumber": None}],
    [log(ALICE, H1, 40)],  # a block it was not asked for
])
def test_a_malformed_answer_leaves_the_index_as_it_was_and_waits_before_trying_again(index, node, clock, bad):
    run(index.sync())
    age_before = index.age

    async def answer(requests):
        return [bad if r["method"] == "eth_getLogs" else node.answer(r) for r in requests]

    index._batch = answer
    clock[0] += 0.1
    run(index.sync())
    assert index.age == pytest.approx(age_before + 0.1)  # nothing taken from the answer
    assert index.syncs == {"ok": 1, "failed": 1}
    index._batch = node.batch
    clock[0] += 5.0  # stale now, but a failed sync waits retry_after before the next

    async def main():
        assert index.clears(ALICE, H1) is False
        await asyncio.sleep(0)

    run(main())
    assert node.asked_from == [0]  # no new sync yet
    clock[0] += 30.0
    run(main())
    assert node.asked_from == [0, 0]


def test_a_page_answered_with_another_block_than_asked_fails_the_sync(index, node):
    async def answer(requests):
        answers = [node.answer(r) for r in requests]
        if requests[0]["method"] == "eth_getLogs":
            answers[1] = node.block(9)  # asked for block 10
        return answers

    index._batch = answer
    run(index.sync())
    assert index.age is None and index.syncs == {"ok": 0, "failed": 1}


@pytest.mark.parametrize("block", [None, {"number": "0x5"}, "0x5"])
def test_a_head_that_is_not_a_block_fails_the_sync(index, node, block):
    async def answer(requests):
        return [block if r["params"][0] == "latest" else node.answer(r) for r in requests]

    index._batch = answer
    run(index.sync())
    assert index.age is None and index.syncs == {"ok": 0, "failed": 1}


def test_an_unreachable_node_leaves_every_hash_to_the_contract(index, node):
    node.fail = ConnectionError("refused")
    run(index.sync())
    assert index.age is None
    assert clears(index, ALICE, H1) is False


def test_a_second_sync_while_one_runs_does_nothing(index, node):
    gate = asyncio.Event

    async def main():
        opened = gate()
        answered = node.batch

        async def slow(requests):
            await opened.wait()
            return await answered(requests)

        index._batch = slow
        first = asyncio.create_task(index.sync())
        await asyncio.sleep(0)
        await asyncio.wait_for(index.sync(), 1.0)  # returns at once: one sync at a time
        assert node.asked == []
        opened.set()
        await first

    run(main())
    assert node.asked == [(0, 10)] and index.syncs == {"ok": 1, "failed": 0}


def test_a_sync_cut_short_with_its_event_loop_leaves_the_next_one_to_run(index, node):
    async def never(requests):
        await asyncio.Event().wait()

    async def start_only():
        index.clears(ALICE, H1)  # its sync waits on the node when this loop ends
        await asyncio.sleep(0)

    index._batch = never
    run(start_only())
    assert index.age is None
    index._batch = node.batch

    async def main():
        assert index.clears(ALICE, H1) is False
        await asyncio.sleep(0)
        return index.clears(ALICE, H1)

    assert run(main()) is True
    assert node.asked_from == [0]


def test_a_later_sync_that_fails_leaves_the_index_as_complete_as_the_last_one_made_it(index, node, clock):
    node.head = 100
    node.logs = [log(ALICE, H1, 50)]
    run(index.sync())
    node.fail = ConnectionError("reset")
    clock[0] += 0.6
    run(index.sync())
    assert index.syncs == {"ok": 1, "failed": 1}
    assert [clears(index, ALICE, h) for h in (H1, H2)] == [False, True]  # 0.6 s old: still used
    clock[0] += 0.5
    assert clears(index, ALICE, H2) is False  # a second old: not


def test_a_chain_that_moves_while_a_page_is_read_is_not_taken(index, node):
    node.head = 100
    node.logs = [log(ALICE, H1, 50)]

    def reorg():  # right after the logs were answered: block 50 and all above it change
        node.version, node.logs, node.after_logs = 1, [log(BOB, H2, 60)], lambda: None

    node.after_logs = reorg
    run(index.sync())
    assert index.age is None and index.syncs == {"ok": 0, "failed": 1}
    assert clears(index, ALICE, H1) is False and clears(index, BOB, H2) is False
    node.asked.clear()
    run(index.sync())
    assert node.asked == [(0, 100)]  # read again, all of it, from the chain as it is
    assert [clears(index, a, h) for a, h in ((ALICE, H1), (BOB, H2))] == [True, False]


def test_a_chain_that_moves_between_pages_is_read_again_from_the_start(node, clock):
    index = RevocationIndex(node.batch, CONTRACT, fresh=1.0, page_blocks=100, clock=lambda: clock[0])
    node.head = 250
    node.logs = [log(ALICE, H1, 50)]
    def moved():  # after the first page was taken, before the second: reverted and mined again past
        if len(node.asked) == 1 and node.version == 0:
            node.version, node.head, node.logs = 1, 260, [log(BOB, H2, 30)]

    answered = node.batch

    async def batch(requests):
        if requests[0]["method"] == "eth_getBlockByNumber" and requests[0]["params"][0] == hex(199):
            moved()
        return await answered(requests)

    index._batch = batch
    run(index.sync())
    assert index.age is None and index.syncs == {"ok": 0, "failed": 1}
    node.asked.clear()
    run(index.sync())
    assert node.asked == [(0, 99), (100, 199), (200, 260)]
    assert [clears(index, a, h) for a, h in ((ALICE, H1), (BOB, H2))] == [True, False]


def test_a_from_block_above_the_head_or_after_the_contracts_deployment_is_refused(node, clock):
    node.head = 500
    node.logs = [log(ALICE, H1, 350)]
    # Above the head (nothing there yet, so no code before it either); after the deployment at
    # 300 (its logs at 350 would be missed).
    for from_block, node.deployed_at in ((600, 700), (400, 300)):
        index = RevocationIndex(node.batch, CONTRACT, fresh=1.0, from_block=from_block, clock=lambda: clock[0])
        run(index.sync())
        assert index.age is None and index.syncs == {"ok": 0, "failed": 1}, from_block
        assert clears(index, ALICE, H2) is False
    index = RevocationIndex(node.batch, CONTRACT, fresh=1.0, from_block=300, clock=lambda: clock[0])
    run(index.sync())
    assert [clears(index, ALICE, h) for h in (H1, H2)] == [False, True]

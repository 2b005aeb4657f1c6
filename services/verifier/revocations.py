"""Every per-hash revocation on the chain, followed from the contract's ``CredentialRevoked`` events.

A credential's own ``revokedAt(account, hash)`` was the one chain read every cold verification
had to make: the anchor, the issuer record, the head and the status lists' hashes are shared by
many credentials and cached (services/verifier/chainview.py). Instead the verifier keeps the
set of revoked (account, hash) pairs the contract's logs name. While that set is complete as
of at most ``fresh`` seconds ago (a second: as fresh as the cached head and status-list hashes),
a hash not in it is not revoked, and nothing need be asked of the node for it.

The index only ever spares a read; it never decides a revocation. A hash it holds, and every
credential while it is older than ``fresh`` (a verifier that was idle, a node that refuses
``eth_getLogs``), is asked of the contract as before. It is kept fresh by the verifications
themselves: one that finds it past half its freshness starts a sync in the background, so an
idle verifier asks the node nothing. A sync asks for the head block (and the block it read
last), then for ``eth_getLogs`` up to that head, ``PAGE_BLOCKS`` at a time. A page is taken
only if the block read before it and the page's last block keep their hashes from before its
logs are asked until after (a change anywhere below a block changes that block's hash), so the
logs taken are one chain's. The first sync reads from ``from_block`` (the contract's deployment
block, MICROCRED_REVOCATIONS_FROM_BLOCK, checked: no code of the contract before it); later
ones from ``REORG_WINDOW`` blocks before the last one read (that block included), replacing
what was held for them. If the block read last has another hash now, the chain changed below
it (a re-org, a dev chain reverted or restarted) and everything is read again from the start;
while the head is below it (a node behind another, a chain gone back), or if the chain moves
under a sync, the index is not complete and every hash is asked.

docs/verifier.md ("Caching") says what this means for how soon a revocation shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from web3 import Web3

CREDENTIAL_REVOKED_TOPIC = "0x" + Web3.keccak(text="CredentialRevoked(address,bytes32)").hex().removeprefix("0x")
REORG_WINDOW = 64  # blocks read again on every sync
PAGE_BLOCKS = 5_000  # blocks per eth_getLogs: public endpoints refuse wider ranges (10,000 is a common limit)

log = logging.getLogger("microcred.verifier.revocations")

Batch = Callable[[list[dict]], Awaitable[list]]


class RevocationIndex:
    """``clears(account, hash)``: True only when the hash is known not revoked as of under ``fresh`` seconds ago."""

    def __init__(self, batch: Batch, contract: str, *, fresh: float = 1.0, from_block: int = 0,
                 page_blocks: int = PAGE_BLOCKS, retry_after: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._batch = batch  # ChainView's JSON-RPC batch: requests in, results out, ChainReadError if not
        self.contract = contract.lower()
        self.fresh = fresh
        self.from_block = from_block  # the contract's deployment block: no log of it before
        self.page_blocks = page_blocks
        self.retry_after = retry_after
        self.clock = clock
        self._revoked: dict[tuple[str, str], int] = {}  # (account, hash), lowercase hex -> block number
        self._scanned_to: int | None = None  # every block up to this one is read
        self._scanned_hash: str | None = None  # the hash of that block when it was read
        self._running: asyncio.Task | None = None  # the sync under way (started by a verification or called)
        self._complete_at: float | None = None  # clock time as of which every revocation is in _revoked
        self._not_before = 0.0  # after a failed sync, none before then
        self.syncs = {"ok": 0, "failed": 0}  # for /metrics (services/verifier/metrics.py)

    @property
    def age(self) -> float | None:
        """Seconds since the index was last complete, or None if it never was."""
        return None if self._complete_at is None else self.clock() - self._complete_at

    def clears(self, account: str, credential_hash: str) -> bool:
        """Whether ``credential_hash`` is known not revoked by ``account``; False means: ask the contract.

        Called from a running event loop (a verification); starts a sync in the background when
        the index is past half its freshness.
        """
        age = self.age
        if age is None or age > self.fresh / 2:
            self._start_sync()
        if age is None or age > self.fresh:
            return False
        return (account.lower(), credential_hash.lower()) not in self._revoked

    def _start_sync(self) -> None:
        if self.clock() < self._not_before:
            return
        loop = asyncio.get_running_loop()
        if not self._sync_running(loop):
            self._running = loop.create_task(self.sync())

    def _sync_running(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether a sync is under way on ``loop`` (one cut short with another loop does not count)."""
        running = self._running
        return running is not None and not running.done() and running.get_loop() is loop

    async def sync(self) -> None:
        """Bring the index up to the chain's head; one sync at a time (a second call meanwhile returns).

        A failed request leaves the index as complete as its last sync made it (a second at most);
        a chain that moved under the sync (``_ChainMoved``) makes it incomplete at once."""
        current = asyncio.current_task()
        if self._running is not current and self._sync_running(asyncio.get_running_loop()):
            return
        self._running = current
        try:
            await self._sync()
        except _ChainMoved as exc:
            self._forget()
            self._failed(str(exc), retry_after=self.fresh)
        except _Behind as exc:
            self._complete_at = None
            self._failed(str(exc), retry_after=self.fresh)
        except Exception as exc:  # the node refused, timed out, or answered nonsense: direct reads meanwhile
            self._failed(str(exc) or type(exc).__name__, retry_after=self.retry_after)
        else:
            self.syncs["ok"] += 1
        finally:
            if self._running is current:
                self._running = None

    async def _sync(self) -> None:
        # Complete as of now: every revocation mined before this moment is in a block up to the
        # head the node names next.
        started = self.clock()
        requests = [{"method": "eth_getBlockByNumber", "params": ["latest", False]}]
        if self._scanned_to is not None:
            requests.append({"method": "eth_getBlockByNumber", "params": [hex(self._scanned_to), False]})
        elif self.from_block > 0:  # the setting must name the contract's deployment: no code before it
            requests.append({"method": "eth_getCode", "params": [self.contract, hex(self.from_block - 1)]})
        latest, *more = await self._batch(requests)
        head, _ = _block(latest)
        if self._scanned_to is not None:
            if head < self._scanned_to:
                # A node behind the one read before, or a chain gone back: not complete until the
                # head passes what was read, and that block's hash says which.
                raise _Behind(f"the chain's head {head} is below block {self._scanned_to}, read before")
            if more[0] is None or _block(more[0])[1] != self._scanned_hash:
                # The block last read is not the one the chain has now (a re-org, a dev chain
                # reverted or restarted): everything is read again from the start.
                self._forget()
        else:
            if head < self.from_block:
                raise ValueError(f"the chain's head {head} is below MICROCRED_REVOCATIONS_FROM_BLOCK "
                                 f"{self.from_block}: not the contract's chain, or the setting is wrong")
            if more and more[0] not in ("0x", "0x0", None):
                raise ValueError(f"the contract has code before block {self.from_block}: "
                                 "MICROCRED_REVOCATIONS_FROM_BLOCK must be its deployment block or earlier")
        low = self.from_block if self._scanned_to is None \
            else max(self.from_block, self._scanned_to - REORG_WINDOW + 1)
        while low <= head:
            await self._read_page(low, min(head, low + self.page_blocks - 1))
            low = self._scanned_to + 1
        self._complete_at = started

    async def _read_page(self, low: int, high: int) -> None:
        """The logs of blocks ``low``–``high``, taken only if the chain did not move while they were read:
        the block read last before (when there is one) and ``high`` keep their hashes from before the
        logs are asked until after (a change anywhere below a block changes its hash)."""
        before = [{"method": "eth_getBlockByNumber", "params": [hex(high), False]}]
        if self._scanned_to is not None:
            before.append({"method": "eth_getBlockByNumber", "params": [hex(self._scanned_to), False]})
        first, *last_read = await self._batch(before)
        number, high_hash = _block(first)
        if number != high:
            raise ValueError(f"asked for block {high}, the node answered block {number}")
        if last_read and (last_read[0] is None or _block(last_read[0])[1] != self._scanned_hash):
            raise _ChainMoved(f"block {self._scanned_to} changed while the revocation index was read")
        (logs,) = await self._batch([{"method": "eth_getLogs", "params": [{
            "address": self.contract, "topics": [CREDENTIAL_REVOKED_TOPIC], "fromBlock": hex(low), "toBlock": hex(high)}]}])
        found = self._revocations(logs, low, high)
        (after,) = await self._batch([{"method": "eth_getBlockByNumber", "params": [hex(high), False]}])
        if after is None or _block(after)[1] != high_hash:
            raise _ChainMoved(f"block {high} changed while its logs were read")
        # What this page says replaces what was held for its blocks (a re-org may have changed them).
        kept = {key: at for key, at in self._revoked.items() if not low <= at <= high}
        kept.update(found)
        self._revoked, self._scanned_to, self._scanned_hash = kept, high, high_hash

    def _forget(self) -> None:
        """Drop all that was read: the index is incomplete until it is read again from the start."""
        self._revoked, self._scanned_to, self._scanned_hash, self._complete_at = {}, None, None, None

    def _failed(self, why: str, *, retry_after: float) -> None:
        self._not_before = self.clock() + retry_after
        self.syncs["failed"] += 1
        log.warning("revocation index not updated: %s", why)

    def _revocations(self, logs: object, low: int, high: int) -> dict[tuple[str, str], int]:
        """The (account, hash) pairs of our contract's ``CredentialRevoked`` logs in blocks ``low``–``high``;
        ValueError if anything is malformed."""
        if not isinstance(logs, list):
            raise ValueError("eth_getLogs did not answer a list")
        found: dict[tuple[str, str], int] = {}
        for entry in logs:
            if not isinstance(entry, dict):
                raise ValueError("a log is not an object")
            if entry.get("removed") is True:
                continue  # taken back by a re-org
            topics = entry.get("topics")
            if str(entry.get("address", "")).lower() != self.contract or not isinstance(topics, list) \
                    or len(topics) != 3 or str(topics[0]).lower() != CREDENTIAL_REVOKED_TOPIC:
                raise ValueError("a log that is not our contract's CredentialRevoked")
            account, credential_hash = str(topics[1]).lower(), str(topics[2]).lower()
            if len(account) != 66 or len(credential_hash) != 66:
                raise ValueError("a CredentialRevoked log with malformed topics")
            block = int(entry["blockNumber"], 16)
            if not low <= block <= high:
                raise ValueError("a log outside the blocks asked")
            found[("0x" + account[-40:], credential_hash)] = block
        return found


class _Behind(Exception):
    """The node's head is below what the index has read: nothing is decided until it passes it."""


class _ChainMoved(Exception):
    """A block read before has another hash now: the chain changed under the index while it was read."""


def _block(value: object) -> tuple[int, str]:
    """(number, hash) of an ``eth_getBlockByNumber`` answer; ValueError if it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("number"), str) or not isinstance(value.get("hash"), str):
        raise ValueError("eth_getBlockByNumber did not answer a block")
    return int(value["number"], 16), value["hash"].lower()

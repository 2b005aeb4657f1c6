"""Read-only views of the CredentialRegistry contract, for verification.

The verifier never takes the registry's word for what is on chain: every fact below is an
``eth_call`` against the contract at a block we name. Immutable facts (who anchored a
root, in which block) are cached; anything that can change (revocations, key retirement,
the head) is read fresh or cached for seconds only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from hexbytes import HexBytes
from web3 import AsyncHTTPProvider, AsyncWeb3, Web3

from services.core.contract import ABI


class ChainReadError(Exception):
    """The chain could not be read (unreachable, timeout, no contract there)."""


@dataclass(frozen=True)
class IssuerRecord:
    did: str
    active: bool
    registered_at: int
    keys: tuple[tuple[str, int, int, bool], ...]  # (0x public key, validFrom, validUntil, compromised)


@dataclass(frozen=True)
class AnchorOnChain:
    anchored_by: str
    anchored_at: int
    block_number: int


class _TTLCache:
    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl, self.size, self.data = ttl, size, {}

    def get(self, key):
        hit = self.data.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, key, value) -> None:
        if len(self.data) >= self.size:
            self.data.clear()  # crude, bounded; entries are cheap to refetch
        self.data[key] = (time.monotonic() + self.ttl, value)


class ChainView:
    def __init__(self, rpc_url: str, contract_address: str, timeout: float = 3.0, fresh_seconds: float = 2.0) -> None:
        self.rpc_url = rpc_url
        self.w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.address = Web3.to_checksum_address(contract_address)
        self.contract = self.w3.eth.contract(address=self.address, abi=ABI)
        self.timeout = timeout
        self._chain_id: int | None = None
        self._anchors = _TTLCache(ttl=24 * 3600)  # only non-zero records: they can only vanish in a re-org
        self._issuers = _TTLCache(ttl=fresh_seconds)
        self._head = _TTLCache(ttl=min(fresh_seconds, 1.0))

    async def _call(self, awaitable):
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except asyncio.TimeoutError:
            raise ChainReadError(f"the chain did not answer within {self.timeout:.0f}s") from None
        except ChainReadError:
            raise
        except Exception as exc:  # transport, decoding, "no contract code": all mean "cannot read"
            raise ChainReadError(f"the chain could not be read: {type(exc).__name__}: {exc}"[:300]) from None

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(await self._call(self.w3.eth.chain_id))
        return self._chain_id

    async def head(self) -> int:
        cached = self._head.get("head")
        if cached is None:
            cached = int(await self._call(self.w3.eth.block_number))
            self._head.put("head", cached)
        return cached

    async def anchor_of(self, root: str) -> AnchorOnChain:
        cached = self._anchors.get(root)
        if cached:
            return cached
        by, at, block = await self._call(self.contract.functions.anchorOf(HexBytes(root)).call())
        record = AnchorOnChain(by, int(at), int(block))
        if int(by, 16) != 0:
            self._anchors.put(root, record)
        return record

    async def issuer(self, account: str) -> IssuerRecord:
        cached = self._issuers.get(account.lower())
        if cached:
            return cached
        account = Web3.to_checksum_address(account)
        (did, active, registered_at, _count), keys = await asyncio.gather(
            self._call(self.contract.functions.issuer(account).call()),
            self._call(self.contract.functions.issuerKeys(account).call()))
        record = IssuerRecord(did, bool(active), int(registered_at),
                              tuple(("0x" + bytes(k[0]).hex(), int(k[1]), int(k[2]), bool(k[3])) for k in keys))
        self._issuers.put(account.lower(), record)
        return record

    async def revoked_at(self, account: str, credential_hash: str) -> int:
        # Never cached: revocation must show within seconds.
        return int(await self._call(self.contract.functions.revokedAt(
            Web3.to_checksum_address(account), HexBytes(credential_hash)).call()))

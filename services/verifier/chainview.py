"""Read-only views of the CredentialRegistry contract, for verification.

The verifier never takes the registry's word for what is on chain: every fact below is an
``eth_call`` against the contract at a block we name. Immutable facts (who anchored a
root, in which block) are cached; anything that can change (revocations, key retirement,
the head) is read fresh or cached for seconds only.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

import orjson
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from services.core.contract import ABI
from services.verifier import abiwords
from services.verifier.revocations import RevocationIndex
from services.verifier.rpc_transport import JsonRpcTransport, TransportError


ROOT_ANCHORED_TOPIC = "0x" + Web3.keccak(text="RootAnchored(address,bytes32,uint256)").hex().removeprefix("0x")


_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # a batch of views and one receipt is a few kB


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


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


@lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """EIP-55 form of an address (a keccak each time otherwise; the same few accounts recur)."""
    return Web3.to_checksum_address(address)


class ChainView:
    """The contract's views over raw JSON-RPC: every read of one verification in one batch.

    web3.py costs milliseconds per call in Python overhead; a verification needs five reads,
    so they go out as a single JSON-RPC batch over one kept-alive connection instead, through
    a transport of our own (services/verifier/rpc_transport.py): this is the one request of
    every verification, and a general-purpose client costs more CPU than the read itself
    (docs/verifier.md, "Where a cold verification's time goes").
    """

    def __init__(self, rpc_url: str, contract_address: str, timeout: float = 3.0, fresh_seconds: float = 2.0,
                 follow_revocations: bool = False, revocations_from_block: int = 0) -> None:
        self.rpc_url = rpc_url
        self.address = Web3.to_checksum_address(contract_address)
        self.timeout = timeout
        self._transport = JsonRpcTransport(rpc_url, timeout=timeout, max_bytes=MAX_ANSWER_BYTES)
        # Per view: its 4-byte selector and ABI types, worked out once rather than per call.
        self._functions = {}
        for e in ABI:
            if e.get("type") == "function":
                inputs = tuple(_abi_type(i) for i in e["inputs"])
                outputs = tuple(_abi_type(o) for o in e["outputs"])
                self._functions[e["name"]] = (function_signature_to_4byte_selector(f"{e['name']}({','.join(inputs)})"),
                                              inputs, outputs, abiwords.is_static(inputs), abiwords.is_static(outputs))
        self._chain_id: int | None = None
        self._anchors = _TTLCache(ttl=24 * 3600)  # only non-zero records: they can only vanish in a re-org
        self._issuers = _TTLCache(ttl=fresh_seconds)
        self._head = _TTLCache(ttl=min(fresh_seconds, 1.0))
        # A status list's latest hash, shared by every credential in the list: a second at most, as
        # the head (a revocation published on chain shows within it; docs/verifier.md, "Caching").
        self._lists = _TTLCache(ttl=min(fresh_seconds, 1.0))
        self._proven_txs = _TTLCache(ttl=24 * 3600)
        # What was asked of the node, for /metrics (services/verifier/metrics.py): HTTP requests
        # (each one JSON-RPC batch) and the calls in them by method.
        self.requests_sent = 0
        self.calls_sent: dict[str, int] = {}
        # A long-lived verifier follows the contract's revocation events instead of asking each
        # credential's revokedAt (services/verifier/revocations.py); a one-off check does not.
        self.revocations = RevocationIndex(self._batch, self.address, fresh=min(fresh_seconds, 1.0),
                                           from_block=revocations_from_block) if follow_revocations else None

    async def aclose(self) -> None:
        await self._transport.close()

    # -- JSON-RPC ------------------------------------------------------------------
    def _call_request(self, name: str, *args) -> dict:
        selector, types, outputs, static_in, static_out = self._functions[name]
        # One word per value where the types allow it (services/verifier/abiwords.py), eth_abi otherwise.
        data = selector + (abiwords.encode(types, args) if static_in else abi_encode(types, list(args)))
        return {"method": "eth_call", "params": [{"to": self.address, "data": "0x" + data.hex()}, "latest"],
                "decode": (outputs, static_out)}

    async def _batch(self, requests: list[dict]) -> list:
        payload = [{"jsonrpc": "2.0", "id": i, "method": r["method"], "params": r["params"]}
                   for i, r in enumerate(requests)]
        self.requests_sent += 1
        for r in requests:
            self.calls_sent[r["method"]] = self.calls_sent.get(r["method"], 0) + 1
        try:
            answers = {a["id"]: a for a in orjson.loads(await self._transport.post(orjson.dumps(payload)))}
        except TransportError as exc:
            raise ChainReadError(f"the chain could not be read: {exc}") from None
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ChainReadError(f"the chain could not be read ({type(exc).__name__})") from None
        results = []
        for i, request in enumerate(requests):
            answer = answers.get(i) or {}
            if "error" in answer or "result" not in answer:
                raise ChainReadError(f"the chain refused a read: {str(answer.get('error'))[:200]}")
            result = answer["result"]
            if "decode" in request:
                raw = bytes.fromhex(result[2:])
                if not raw:
                    raise ChainReadError("no contract at the configured address")
                try:
                    types, static = request["decode"]
                    result = abiwords.decode(types, raw) if static else abi_decode(types, raw)
                except Exception:
                    raise ChainReadError("the contract's answer could not be decoded") from None
            results.append(result)
        return results

    def _tx_anchors_root(self, receipt: object, root: str) -> bool:
        if not isinstance(receipt, dict) or receipt.get("status") != "0x1":
            return False
        for entry in receipt.get("logs") or ():
            if not isinstance(entry, dict) or str(entry.get("address", "")).lower() != self.address.lower():
                continue
            topics = [str(t).lower() for t in entry.get("topics") or ()]
            if len(topics) >= 3 and topics[0] == ROOT_ANCHORED_TOPIC and topics[2] == root.lower():
                return True
        return False

    # -- reads -----------------------------------------------------------------------
    @property
    def known_chain_id(self) -> int | None:
        """The chain id once read (it never changes for an endpoint), else None."""
        return self._chain_id

    async def chain_id(self) -> int:
        if self._chain_id is None:
            (value,) = await self._batch([{"method": "eth_chainId", "params": []}])
            self._chain_id = int(value, 16)
        return self._chain_id

    async def head(self, *, fresh: bool = False) -> int:
        """The latest block number: cached for a second, or read now (``fresh``)."""
        cached = None if fresh else self._head.get("head")
        if cached is None:
            (value,) = await self._batch([{"method": "eth_blockNumber", "params": []}])
            cached = int(value, 16)
            self._head.put("head", cached)
        return cached

    async def anchor_of(self, root: str) -> AnchorOnChain:
        (record,) = await self.read_for_verification(root=root)
        return record

    async def issuer(self, account: str) -> IssuerRecord:
        (record,) = await self.read_for_verification(account=account)
        return record

    async def revoked_at(self, account: str, credential_hash: str) -> int:
        (value,) = await self.read_for_verification(account=account, credential_hash=credential_hash,
                                                    issuer_record=False)
        return value

    async def read_for_verification(self, *, root: str | None = None, account: str | None = None,
                                    credential_hash: str | None = None, head: bool = False,
                                    issuer_record: bool = True, tx_hash: str | None = None,
                                    status_lists: tuple[bytes, ...] = ()) -> list:
        """One batch: [anchor record][, head][, issuer record][, tx proves root][, revokedAt], cached parts skipped.

        ``tx_hash`` (with ``root``) asks whether that transaction really anchored the root: its
        receipt succeeded and carries this contract's ``RootAnchored`` event for the root. The
        receipt's transaction hash is only a claim until then. A credential's own revocation
        (``revokedAt``) is never cached; with ``follow_revocations`` it is not asked while the
        revocation index, under a second old, holds no revocation of that hash (0 is answered).
        ``status_lists`` (list ids, with ``account``) appends, per
        list, the latest list hash the account set on chain (32 zero bytes if none): cached for a
        second at most, like the head, since every credential of the list asks the same.
        """
        plan: list[tuple[str, object]] = []
        requests: list[dict] = []
        if root is not None:
            cached = self._anchors.get(root)
            if cached:
                plan.append(("value", cached))
            else:
                plan.append(("anchor", root))
                requests.append(self._call_request("anchorOf", bytes.fromhex(root[2:])))
        if head:
            cached_head = self._head.get("head")
            if cached_head is not None:
                plan.append(("value", cached_head))
            else:
                plan.append(("head", None))
                requests.append({"method": "eth_blockNumber", "params": []})
        if account is not None and issuer_record:
            cached_issuer = self._issuers.get(account.lower())
            if cached_issuer:
                plan.append(("value", cached_issuer))
            else:
                plan.append(("issuer", account))
                checksum = _checksum(account)
                requests += [self._call_request("issuer", checksum), self._call_request("issuerKeys", checksum)]
        if tx_hash is not None and root is not None:
            if not _TX_HASH.match(tx_hash):
                plan.append(("value", False))  # not even a transaction hash: nothing to ask the chain
            elif self._proven_txs.get((tx_hash.lower(), root.lower())):
                plan.append(("value", True))
            else:
                plan.append(("tx", (tx_hash, root)))
                requests.append({"method": "eth_getTransactionReceipt", "params": [tx_hash]})
        if account is not None and credential_hash is not None:
            if self.revocations is not None and self.revocations.clears(account, credential_hash):
                plan.append(("value", 0))  # not revoked as of under a second ago: nothing to ask
            else:
                plan.append(("revoked", None))
                requests.append(self._call_request("revokedAt", _checksum(account),
                                                   bytes.fromhex(credential_hash[2:])))
        if account is not None:
            for list_id in status_lists:
                cached_list = self._lists.get((account.lower(), list_id))
                if cached_list is not None:
                    plan.append(("value", cached_list))
                else:
                    plan.append(("list", (account.lower(), list_id)))
                    requests.append(self._call_request("statusListOf", _checksum(account), list_id))
        results = iter(await self._batch(requests)) if requests else iter(())
        out: list = []
        for kind, arg in plan:
            if kind == "value":
                out.append(arg)
            elif kind == "anchor":
                by, at, block = next(results)
                record = AnchorOnChain(_checksum(by), int(at), int(block))
                if int(by, 16) != 0:
                    self._anchors.put(arg, record)
                out.append(record)
            elif kind == "head":
                value = int(next(results), 16)
                self._head.put("head", value)
                out.append(value)
            elif kind == "issuer":
                did, active, registered_at, _count = next(results)
                (keys,) = next(results)
                record = IssuerRecord(did, bool(active), int(registered_at),
                                      tuple(("0x" + bytes(k[0]).hex(), int(k[1]), int(k[2]), bool(k[3])) for k in keys))
                self._issuers.put(arg.lower(), record)
                out.append(record)
            elif kind == "tx":
                proven = self._tx_anchors_root(next(results), arg[1])
                if proven:
                    self._proven_txs.put((arg[0].lower(), arg[1].lower()), True)
                out.append(proven)
            elif kind == "revoked":
                (value,) = next(results)
                out.append(int(value))
            elif kind == "list":
                list_hash, _set_at = next(results)
                self._lists.put(arg, bytes(list_hash))
                out.append(bytes(list_hash))
        return out

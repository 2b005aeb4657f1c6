"""The chain port (what the registry needs of the contract) and its web3 adapter.

The worker talks only to :class:`RegistryChain`; wiring picks :class:`Web3Chain`.
Transport failures surface as :class:`ChainUnavailable`, contract refusals as
:class:`ContractRevert` carrying the decoded custom error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eth_account import Account
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, TransactionNotFound, Web3Exception

from services.core.contract import ABI, decode_custom_error


class ChainError(Exception):
    pass


class ChainUnavailable(ChainError):
    """The RPC endpoint could not be reached or timed out: try again later."""


class ContractRevert(ChainError):
    def __init__(self, name: str, args: tuple = ()) -> None:
        super().__init__(f"{name}{args}")
        self.name = name
        self.args_ = args


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int


@dataclass(frozen=True)
class AnchorRecord:
    anchored_by: str
    anchored_at: int
    block_number: int


@dataclass(frozen=True)
class LogRef:
    tx_hash: str
    block_number: int
    block_hash: str


ZERO_ADDRESS = "0x" + "00" * 20


class RegistryChain(Protocol):
    chain_id: int
    contract_address: str

    def head(self) -> int: ...
    def head_block(self) -> tuple[int, str]: ...
    def block_hash(self, number: int) -> str | None: ...
    def block_timestamp(self, number: int) -> int: ...
    def pending_nonce(self, address: str) -> int: ...
    def balance(self, address: str) -> int: ...
    def build_tx(self, sender: str, nonce: int, call: str, args: list, value: int = 0, to: str | None = None) -> dict: ...
    def send_raw(self, raw_tx: str) -> str: ...
    def receipt(self, tx_hash: str) -> Receipt | None: ...
    def is_pending(self, tx_hash: str) -> bool: ...
    def revert_reason(self, sender: str, call: str, args: list, block: int) -> ContractRevert | None: ...
    def anchor_of(self, root: str) -> AnchorRecord: ...
    def revoked_at(self, issuer: str, credential_hash: str) -> int: ...
    def issuer_registered_at(self, account: str) -> int: ...
    def status_list_of(self, issuer: str, list_id: str) -> tuple[str, int]: ...
    def issuer_keys(self, account: str) -> list[tuple[str, int, int, bool]]: ...
    def find_log(self, event: str, topic_args: dict[str, Any]) -> LogRef | None: ...


def _hex(value: bytes | HexBytes | str) -> str:
    if isinstance(value, str):
        return value if value.startswith("0x") else "0x" + value
    return "0x" + bytes(value).hex()


def sign_tx(tx: dict, private_key: bytes) -> tuple[str, str]:
    """(raw transaction, transaction hash), both 0x hex. The key is used here and dropped."""
    signed = Account.sign_transaction(tx, private_key)
    return _hex(signed.raw_transaction), _hex(signed.hash)


class Web3Chain:
    """:class:`RegistryChain` over JSON-RPC with web3.py."""

    def __init__(self, rpc_url: str, contract_address: str, timeout: float = 10.0) -> None:
        if not contract_address:
            raise ChainError("no contract address configured (MICROCRED_CONTRACT_ADDRESS)")
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.contract_address = Web3.to_checksum_address(contract_address)
        self.contract = self.w3.eth.contract(address=self.contract_address, abi=ABI)
        self._chain_id: int | None = None

    # -- plumbing ---------------------------------------------------------------
    def _rpc(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ContractCustomError as exc:
            raise self._revert(exc) from None
        except TransactionNotFound:
            raise
        except (OSError, TimeoutError) as exc:
            raise ChainUnavailable(f"chain RPC unreachable: {exc}") from exc
        except Web3Exception as exc:
            raise ChainError(str(exc)) from exc
        except Exception as exc:  # requests' ConnectionError and friends
            if type(exc).__module__.startswith(("requests", "urllib3")):
                raise ChainUnavailable(f"chain RPC unreachable: {exc}") from exc
            raise

    @staticmethod
    def _revert(exc: ContractCustomError) -> ContractRevert:
        data = exc.data if isinstance(exc.data, str) else str(exc.args[0] if exc.args else "")
        decoded = decode_custom_error(data)
        return ContractRevert(*decoded) if decoded else ContractRevert("UnknownError", (data,))

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def head(self) -> int:
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def head_block(self) -> tuple[int, str]:
        """The latest block's number and hash: one call tells whether the chain moved (a re-org
        changes the hash even at the same height)."""
        block = self._rpc(lambda: self.w3.eth.get_block("latest"))
        return int(block["number"]), _hex(block["hash"])

    def block_hash(self, number: int) -> str | None:
        try:
            block = self._rpc(self.w3.eth.get_block, number)
        except ChainError:
            return None
        return _hex(block["hash"]) if block else None

    def block_timestamp(self, number: int) -> int:
        return int(self._rpc(self.w3.eth.get_block, number)["timestamp"])

    def pending_nonce(self, address: str) -> int:
        return int(self._rpc(self.w3.eth.get_transaction_count, Web3.to_checksum_address(address), "pending"))

    def balance(self, address: str) -> int:
        return int(self._rpc(self.w3.eth.get_balance, Web3.to_checksum_address(address)))

    # -- transactions -----------------------------------------------------------
    def build_tx(self, sender: str, nonce: int, call: str, args: list, value: int = 0, to: str | None = None) -> dict:
        sender = Web3.to_checksum_address(sender)
        base = self._rpc(lambda: self.w3.eth.get_block("latest"))["baseFeePerGas"]
        tip = self._rpc(lambda: self.w3.eth.max_priority_fee)
        tx: dict[str, Any] = {
            "from": sender, "nonce": nonce, "chainId": self.chain_id, "value": value,
            # Twice the base fee rides out several full blocks of fee increases.
            "maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip,
        }
        if call == "transfer":
            tx.update(to=Web3.to_checksum_address(to), gas=21_000)
            return tx
        fn = getattr(self.contract.functions, call)(*args)
        # estimate_gas raises the contract's custom error if the call would revert.
        gas = self._rpc(fn.estimate_gas, {"from": sender, "value": value})
        tx.update(to=self.contract_address, data=fn._encode_transaction_data(), gas=int(gas * 1.2) + 10_000)
        return tx

    def send_raw(self, raw_tx: str) -> str:
        try:
            return _hex(self._rpc(self.w3.eth.send_raw_transaction, raw_tx))
        except ChainError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return _hex(Web3.keccak(hexstr=raw_tx))
            raise

    def receipt(self, tx_hash: str) -> Receipt | None:
        try:
            r = self._rpc(self.w3.eth.get_transaction_receipt, tx_hash)
        except TransactionNotFound:
            return None
        if r is None or r.get("blockNumber") is None:
            return None
        return Receipt(_hex(r["transactionHash"]), int(r["blockNumber"]), _hex(r["blockHash"]),
                       int(r["status"]), int(r["gasUsed"]))

    def is_pending(self, tx_hash: str) -> bool:
        try:
            tx = self._rpc(self.w3.eth.get_transaction, tx_hash)
        except TransactionNotFound:
            return False
        return tx is not None

    def revert_reason(self, sender: str, call: str, args: list, block: int) -> ContractRevert | None:
        fn = getattr(self.contract.functions, call)(*args)
        try:
            self._rpc(fn.call, {"from": Web3.to_checksum_address(sender)}, block)
        except ContractRevert as exc:
            return exc
        except ChainError:
            return None
        return None

    # -- views ------------------------------------------------------------------
    def anchor_of(self, root: str) -> AnchorRecord:
        by, at, block = self._rpc(self.contract.functions.anchorOf(HexBytes(root)).call)
        return AnchorRecord(by, int(at), int(block))

    def revoked_at(self, issuer: str, credential_hash: str) -> int:
        return int(self._rpc(self.contract.functions.revokedAt(
            Web3.to_checksum_address(issuer), HexBytes(credential_hash)).call))

    def status_list_of(self, issuer: str, list_id: str) -> tuple[str, int]:
        """(latest list hash as 0x hex, block time it was set); zeros if never set."""
        list_hash, set_at = self._rpc(self.contract.functions.statusListOf(
            Web3.to_checksum_address(issuer), HexBytes(list_id)).call)
        return _hex(list_hash), int(set_at)

    def issuer_registered_at(self, account: str) -> int:
        _did, _active, registered_at, _keys = self._rpc(
            self.contract.functions.issuer(Web3.to_checksum_address(account)).call)
        return int(registered_at)

    def issuer_keys(self, account: str) -> list[tuple[str, int, int, bool]]:
        keys = self._rpc(self.contract.functions.issuerKeys(Web3.to_checksum_address(account)).call)
        return [(_hex(k[0]), int(k[1]), int(k[2]), bool(k[3])) for k in keys]

    def find_log(self, event: str, topic_args: dict[str, Any]) -> LogRef | None:
        ev = getattr(self.contract.events, event)
        filters = {k: (HexBytes(v) if isinstance(v, str) and len(v) == 66 else v) for k, v in topic_args.items()}
        logs = self._rpc(ev.get_logs, from_block=0, argument_filters=filters)
        if not logs:
            return None
        last = logs[-1]
        return LogRef(_hex(last["transactionHash"]), int(last["blockNumber"]), _hex(last["blockHash"]))

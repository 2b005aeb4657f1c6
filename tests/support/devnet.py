"""A real anvil chain with the contract deployed, shared by a test session."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account import Account
from web3 import HTTPProvider, Web3

from services.core.contract import ABI
from services.devchain.anvil import DEV_KEYS, Anvil
from services.devchain.deploy import deploy_registry


@dataclass
class Devnet:
    anvil: Anvil
    w3: Web3
    address: str
    owner_key: str = DEV_KEYS[0]

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def contract(self):
        return self.w3.eth.contract(address=self.address, abi=ABI)

    @property
    def owner(self) -> str:
        return Account.from_key(self.owner_key).address

    def rpc(self, method: str, *params):
        response = self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise RuntimeError(response["error"])
        return response["result"]

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        assert self.rpc("evm_revert", snapshot_id) is True
        # anvil's evm_revert also winds its block clock back to the snapshot's time, and later
        # blocks then lag the wall clock by as long as the test ran (48 s was seen). Services
        # that share this chain compare block times with their own clock: set it right again.
        self.rpc("anvil_setTime", int(time.time()))

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))


def start_devnet(port: int) -> Devnet:
    anvil = Anvil(port=port).start()
    w3 = Web3(HTTPProvider(anvil.rpc_url))
    return Devnet(anvil=anvil, w3=w3, address=deploy_registry(w3, DEV_KEYS[0]))

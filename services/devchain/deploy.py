"""Deploy the CredentialRegistry, and on the dev chain remember where (deployment.json)."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from services.core.contract import ABI, BYTECODE
from services.devchain.anvil import DEV_CHAIN_ID, DEV_KEYS, DEV_MNEMONIC

__all__ = ["DEV_CHAIN_ID", "DEV_KEYS", "DEV_MNEMONIC", "DEV_ADDRESSES", "OPERATOR_KEY", "OPERATOR_ADDRESS",
           "deploy_registry", "deploy_registry_in_block", "ensure_deployed"]

# The dev chain's accounts (public keys, never for real funds); account 0 operates the platform.
DEV_ADDRESSES = tuple(Account.from_key(key).address for key in DEV_KEYS)
OPERATOR_KEY = DEV_KEYS[0]
OPERATOR_ADDRESS = DEV_ADDRESSES[0]


def deploy_registry(w3: Web3, owner_account: LocalAccount | str | bytes) -> str:
    """Deploy with ``owner_account`` (an eth-account account or its private key) as sender and
    owner; returns the checksummed contract address."""
    return deploy_registry_in_block(w3, owner_account)[0]


def deploy_registry_in_block(w3: Web3, owner_account: LocalAccount | str | bytes) -> tuple[str, int]:
    """:func:`deploy_registry`, and the block it was deployed in (where the contract's logs begin)."""
    owner = owner_account if isinstance(owner_account, LocalAccount) else Account.from_key(owner_account)
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    tx = factory.constructor(owner.address).build_transaction({
        "from": owner.address, "nonce": w3.eth.get_transaction_count(owner.address, "pending"),
        "chainId": w3.eth.chain_id})
    signed = owner.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction),
                                                  timeout=60, poll_latency=0.05)
    if receipt["status"] != 1:
        raise RuntimeError("contract deployment reverted")
    return receipt["contractAddress"], receipt["blockNumber"]


def ensure_deployed(rpc_url: str, data_dir: Path, owner_key: str | None = None) -> dict:
    """The dev chain's deployment, made on first start and reused after (if the code is still there)."""
    path = data_dir / "deployment.json"
    w3 = Web3(HTTPProvider(rpc_url))
    if path.exists():
        deployment = json.loads(path.read_text())
        if deployment.get("chainId") == w3.eth.chain_id and w3.eth.get_code(deployment["contract"]):
            return deployment
    address = deploy_registry(w3, owner_key or OPERATOR_KEY)
    deployment = {"contract": address, "chainId": w3.eth.chain_id, "rpcUrl": rpc_url,
                  "deployedAtBlock": w3.eth.block_number}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment, indent=2))
    return deployment

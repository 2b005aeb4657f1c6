"""Deploy the CredentialRegistry, and on the dev chain remember where (deployment.json)."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

from services.core.contract import ABI, BYTECODE


def deploy_registry(w3: Web3, owner_key: str) -> str:
    """Deploy with ``owner_key``'s account as owner; returns the contract address."""
    owner = Account.from_key(owner_key)
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    tx = factory.constructor(owner.address).build_transaction({
        "from": owner.address, "nonce": w3.eth.get_transaction_count(owner.address, "pending"),
        "chainId": w3.eth.chain_id})
    signed = owner.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=60)
    if receipt["status"] != 1:
        raise RuntimeError("contract deployment reverted")
    return receipt["contractAddress"]


def ensure_deployed(rpc_url: str, data_dir: Path, owner_key: str | None = None) -> dict:
    """The dev chain's deployment, made on first start and reused after (if the code is still there)."""
    from services.devchain.anvil import DEV_KEYS

    path = data_dir / "deployment.json"
    w3 = Web3(HTTPProvider(rpc_url))
    if path.exists():
        deployment = json.loads(path.read_text())
        if deployment.get("chainId") == w3.eth.chain_id and w3.eth.get_code(deployment["contract"]):
            return deployment
    address = deploy_registry(w3, owner_key or DEV_KEYS[0])
    deployment = {"contract": address, "chainId": w3.eth.chain_id, "rpcUrl": rpc_url,
                  "deployedAtBlock": w3.eth.block_number}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment, indent=2))
    return deployment

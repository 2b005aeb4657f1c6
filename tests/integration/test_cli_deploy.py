"""`microcred deploy-contract` puts a working CredentialRegistry on a chain, owned by the operator."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from services.core.contract import ABI


def test_deploy_contract_prints_the_address_of_a_registry_owned_by_the_operator(chain, tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "MICROCRED_OWNER_PRIVATE_KEY": chain.owner_key,
           "MICROCRED_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "services.cli", "deploy-contract", "--rpc", chain.rpc_url],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert chain.w3.eth.get_code(address)
    assert chain.w3.eth.contract(address=address, abi=ABI).functions.owner().call() == chain.owner
    # The block it names is the deployment's: no code there the block before.
    block = int(re.search(r"MICROCRED_REVOCATIONS_FROM_BLOCK=(\d+)", done.stderr).group(1))
    assert chain.w3.eth.get_code(address, block_identifier=block)
    assert not chain.w3.eth.get_code(address, block_identifier=block - 1)


def test_deploy_contract_without_a_key_refuses(chain, tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "MICROCRED_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "services.cli", "deploy-contract", "--rpc", chain.rpc_url],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "MICROCRED_OWNER_PRIVATE_KEY" in done.stderr

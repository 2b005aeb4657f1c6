"""The ledger-anchor proof (docs/issuer.md, "The credential"): an anchoring receipt carried inside the credential.

It is a second entry in the credential's ``proof`` set::

    {"type": "DataIntegrityProof", "cryptosuite": "microcred-anchor-2026",
     "proofPurpose": "assertionMethod", "created": "<when the batch was anchored>",
     "verificationMethod": "eip155:<chainId>:<anchoring account>",
     "proofValue": "z<base58btc of the receipt as canonical JSON>"}

The receipt holds everything needed to check the anchor with any Ethereum RPC endpoint
and nothing else: chain id, contract, Merkle root, the leaf's sibling path, transaction
hash and block number. docs/merkle.md describes the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from services.core.multiformats import b58decode, b58encode

CRYPTOSUITE = "microcred-anchor-2026"
RECEIPT_VERSION = 1
_HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class AnchorProofError(ValueError):
    """The anchor proof is malformed: the message says what is wrong."""


@dataclass(frozen=True)
class AnchorReceipt:
    chain_id: int
    contract: str
    account: str
    root: str
    path: tuple[str, ...]
    tx_hash: str
    block_number: int

    def to_json(self) -> dict:
        return {"v": RECEIPT_VERSION, "chainId": self.chain_id, "contract": self.contract, "account": self.account,
                "root": self.root, "path": list(self.path), "txHash": self.tx_hash, "blockNumber": self.block_number}


def encode(receipt: AnchorReceipt, anchored_at: str) -> dict:
    """The proof object for ``receipt``; ``anchored_at`` is an XSD dateTime (UTC, 'Z')."""
    _validate(receipt)
    body = orjson.dumps(receipt.to_json(), option=orjson.OPT_SORT_KEYS)
    return {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": anchored_at,
        "proofPurpose": "assertionMethod",
        "verificationMethod": f"eip155:{receipt.chain_id}:{receipt.account}",
        "proofValue": "z" + b58encode(body),
    }


def find(proofs: dict | list | None) -> dict | None:
    """The anchor proof in a credential's ``proof`` value (object or set), if there is one."""
    items = proofs if isinstance(proofs, list) else [proofs] if isinstance(proofs, dict) else []
    for proof in items:
        if isinstance(proof, dict) and proof.get("cryptosuite") == CRYPTOSUITE:
            return proof
    return None


def decode(proof: dict) -> AnchorReceipt:
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        raise AnchorProofError(f"not a {CRYPTOSUITE} proof")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 8192:
        raise AnchorProofError("proofValue must be a base58btc multibase string ('z…')")
    try:
        data = orjson.loads(b58decode(value[1:]))
        receipt = AnchorReceipt(
            chain_id=int(data["chainId"]), contract=str(data["contract"]), account=str(data["account"]),
            root=str(data["root"]), path=tuple(str(p) for p in data["path"]), tx_hash=str(data["txHash"]),
            block_number=int(data["blockNumber"]))
        version = data.get("v")
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorProofError(f"proofValue does not hold a receipt: {exc}") from None
    if version != RECEIPT_VERSION:
        raise AnchorProofError(f"unknown receipt version {version!r}")
    _validate(receipt)
    expected_vm = f"eip155:{receipt.chain_id}:{receipt.account}"
    if proof.get("verificationMethod") != expected_vm:
        raise AnchorProofError("verificationMethod does not name the anchoring account in the receipt")
    return receipt


def _validate(r: AnchorReceipt) -> None:
    if r.chain_id <= 0 or r.block_number < 0:
        raise AnchorProofError("chain id and block number must be positive")
    if not _ADDRESS.match(r.contract) or not _ADDRESS.match(r.account):
        raise AnchorProofError("contract and account must be 20-byte 0x addresses")
    for value in (r.root, r.tx_hash, *r.path):
        if not _HEX32.match(value):
            raise AnchorProofError("root, path and txHash must be 32-byte lowercase 0x hex")
    if len(r.path) > 64:
        raise AnchorProofError("Merkle path is implausibly long")

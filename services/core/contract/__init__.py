"""The compiled CredentialRegistry (committed; contracts/compile.js --check proves it fresh).

Also the contract's custom errors by 4-byte selector, so that a revert can be reported
by name with its arguments.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

__all__ = ["ABI", "BYTECODE", "DEPLOYED_BYTECODE", "decode_custom_error", "error_selectors", "load_artifact"]

# Solidity's built-in reverts (require with a message, panics) and OpenZeppelin Ownable's
# errors, in case an ABI ever lacks them: the decoder names every revert the contract can give.
_EXTRA_ERRORS = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
    {"type": "error", "name": "OwnableUnauthorizedAccount", "inputs": [{"name": "account", "type": "address"}]},
    {"type": "error", "name": "OwnableInvalidOwner", "inputs": [{"name": "owner", "type": "address"}]},
]


@cache
def load_artifact() -> dict[str, Any]:
    """The artifact: abi, bytecode, deployedBytecode, compiler (version, settings), sources (sha256)."""
    text = resources.files(__package__).joinpath("CredentialRegistry.json").read_text()
    return json.loads(text)


_LAZY = {"ABI": "abi", "BYTECODE": "bytecode", "DEPLOYED_BYTECODE": "deployedBytecode"}


def __getattr__(name: str) -> Any:
    # ABI, BYTECODE, DEPLOYED_BYTECODE: read from the artifact on first use.
    if name in _LAZY:
        return load_artifact()[_LAZY[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@cache
def error_selectors() -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """4-byte selector -> (error name, argument types), for every error the contract can revert with."""
    entries = [e for e in load_artifact()["abi"] if e["type"] == "error"]
    names = {e["name"] for e in entries}
    entries += [e for e in _EXTRA_ERRORS if e["name"] not in names]
    return {function_signature_to_4byte_selector(_signature(e)): (e["name"], tuple(i["type"] for i in e["inputs"]))
            for e in entries}


def decode_custom_error(data: bytes | str | None) -> tuple[str, tuple] | None:
    """(error name, arguments) for revert data of one of the contract's errors, else None.

    Addresses come back checksummed, bytes32 as 0x-hex, integers as ints; undecodable
    arguments give the name with ``()``.
    """
    if data is None:
        return None
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("0x"):
            text = text[2:]
        try:
            data = bytes.fromhex(text)
        except ValueError:
            return None
    if len(data) < 4:
        return None
    found = error_selectors().get(bytes(data[:4]))
    if found is None:
        return None
    name, types = found
    try:
        args = abi_decode(types, bytes(data[4:])) if types else ()
    except (DecodingError, ValueError):
        return name, ()
    return name, tuple(_plain(t, a) for t, a in zip(types, args))


def _plain(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return to_checksum_address(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value

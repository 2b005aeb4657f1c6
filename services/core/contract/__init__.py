"""The compiled CredentialRegistry (committed; contracts/compile.js --check proves it fresh).

Also the contract's custom errors by 4-byte selector, so that a revert can be reported
by name with its arguments (STYLE example 7).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector

# OpenZeppelin Ownable's errors are part of the contract's surface too.
_INHERITED_ERRORS = [
    {"type": "error", "name": "OwnableUnauthorizedAccount", "inputs": [{"name": "account", "type": "address"}]},
    {"type": "error", "name": "OwnableInvalidOwner", "inputs": [{"name": "owner", "type": "address"}]},
]


@cache
def load_artifact() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("CredentialRegistry.json").read_text()
    return json.loads(text)


def __getattr__(name: str) -> Any:
    if name == "ABI":
        return load_artifact()["abi"]
    if name == "BYTECODE":
        return load_artifact()["bytecode"]
    raise AttributeError(name)


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"


@cache
def error_selectors() -> dict[bytes, tuple[str, list[str]]]:
    entries = [e for e in load_artifact()["abi"] if e["type"] == "error"]
    names = {e["name"] for e in entries}
    entries += [e for e in _INHERITED_ERRORS if e["name"] not in names]
    return {function_signature_to_4byte_selector(_signature(e)): (e["name"], [i["type"] for i in e["inputs"]])
            for e in entries}


def decode_custom_error(data: bytes | str | None) -> tuple[str, tuple] | None:
    """(error name, arguments) for revert data of one of the contract's custom errors, else None."""
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
    except Exception:
        return name, ()
    return name, tuple("0x" + a.hex() if isinstance(a, bytes) else a for a in args)

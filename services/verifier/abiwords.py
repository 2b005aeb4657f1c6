"""ABI encoding of the contract views whose arguments and answers are all one 32-byte word each.

Most of a verification's reads (``revokedAt``, ``statusListOf``, ``anchorOf``) take and return
only addresses, ``bytes32``, unsigned integers and booleans: static types, one word each, with
nothing to lay out. eth_abi's general coder costs ≈ 70 µs a call for them (its address
encoder computes a keccak to check the checksum it is given), about a tenth of a cold
verification's own time; here they are slices. Anything else — strings, arrays, tuples —
goes to eth_abi (``services/verifier/chainview.py``), and the tests compare both on the
same values. Decoding is as strict as eth_abi's: padding must be zeros, a bool 0 or 1.
"""

from __future__ import annotations

import re

_UINT = re.compile(r"uint(8|16|24|32|40|48|56|64|72|80|88|96|104|112|120|128|136|144|152|160|168|176|184|192|200"
                   r"|208|216|224|232|240|248|256)")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class AbiWordError(ValueError):
    """A value or an answer that is not what the static type says."""


def is_static(types: list[str] | tuple[str, ...]) -> bool:
    """Whether every type is one this module encodes and decodes (one word each)."""
    return all(t in ("address", "bytes32", "bool") or _UINT.fullmatch(t) for t in types)


def encode(types: list[str] | tuple[str, ...], args: list | tuple) -> bytes:
    if len(types) != len(args):
        raise AbiWordError("as many values as types")
    return b"".join(_word(t, v) for t, v in zip(types, args))


def decode(types: list[str] | tuple[str, ...], data: bytes) -> tuple:
    if len(data) < 32 * len(types):
        raise AbiWordError("the answer is shorter than its types")
    return tuple(_value(t, data[32 * i:32 * i + 32]) for i, t in enumerate(types))


def _word(kind: str, value) -> bytes:
    if kind == "address":
        if isinstance(value, str) and _ADDRESS.fullmatch(value):
            return bytes(12) + bytes.fromhex(value[2:])
        if isinstance(value, (bytes, bytearray)) and len(value) == 20:
            return bytes(12) + bytes(value)
        raise AbiWordError("an address is 20 bytes (0x + 40 hex digits)")
    if kind == "bytes32":
        if isinstance(value, (bytes, bytearray)) and len(value) == 32:
            return bytes(value)
        raise AbiWordError("bytes32 takes exactly 32 bytes")
    if kind == "bool":
        if isinstance(value, bool):
            return int(value).to_bytes(32, "big")
        raise AbiWordError("bool takes True or False")
    bits = int(kind[4:])
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << bits:
        return value.to_bytes(32, "big")
    raise AbiWordError(f"{kind} takes an integer from 0 to 2**{bits} - 1")


def _value(kind: str, word: bytes):
    if kind == "address":
        if any(word[:12]):
            raise AbiWordError("an address word has non-zero padding")
        return "0x" + word[12:].hex()
    if kind == "bytes32":
        return word
    number = int.from_bytes(word, "big")
    if kind == "bool":
        if number > 1:
            raise AbiWordError("a bool word is neither 0 nor 1")
        return bool(number)
    if number >> int(kind[4:]):
        raise AbiWordError(f"a {kind} word has non-zero padding")
    return number

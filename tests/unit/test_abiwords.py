"""The one-word ABI coder of the verifier's chain reads against eth_abi, on the same values."""

from __future__ import annotations

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.contract import ABI
from services.verifier import abiwords

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
words = st.binary(min_size=32, max_size=32)


def _views() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    return {e["name"]: (tuple(i["type"] for i in e["inputs"]), tuple(o["type"] for o in e["outputs"]))
            for e in ABI if e.get("type") == "function"}


def test_the_reads_of_a_verification_are_static_and_the_others_are_not():
    views = _views()
    for name in ("revokedAt", "statusListOf", "anchorOf"):
        assert abiwords.is_static(views[name][0]) and abiwords.is_static(views[name][1]), name
    assert not abiwords.is_static(views["issuer"][1])  # a string: eth_abi's
    assert not abiwords.is_static(views["issuerKeys"][1])  # an array of tuples: eth_abi's
    assert not abiwords.is_static(("uint7",)) and not abiwords.is_static(("bytes31",))


@settings(max_examples=200)
@given(addresses, words, st.integers(min_value=0, max_value=2**64 - 1), st.booleans())
def test_encoding_is_eth_abis(address, word, number, flag):
    types = ("address", "bytes32", "uint64", "bool", "uint256")
    values = (address, word, number, flag, number * 3)
    assert abiwords.encode(types, values) == abi_encode(list(types), list(values))


@settings(max_examples=200)
@given(addresses, words, st.integers(min_value=0, max_value=2**64 - 1), st.booleans())
def test_decoding_is_eth_abis(address, word, number, flag):
    types = ("address", "bytes32", "uint64", "bool")
    data = abi_encode(list(types), [address, word, number, flag])
    ours = abiwords.decode(types, data + b"\0" * 32)  # trailing bytes are ignored by both
    theirs = abi_decode(list(types), data + b"\0" * 32)
    assert ours[0] == theirs[0].lower() and ours[1:] == theirs[1:]


@pytest.mark.parametrize("types, data", [
    (("address",), b"\x01" + bytes(31)),  # padding of an address
    (("uint64",), (1 << 64).to_bytes(32, "big")),  # beyond 64 bits
    (("bool",), (2).to_bytes(32, "big")),
    (("bytes32", "uint64"), bytes(63)),  # short
])
def test_decoding_refuses_what_eth_abi_refuses(types, data):
    with pytest.raises(abiwords.AbiWordError):
        abiwords.decode(types, data)
    with pytest.raises(Exception):
        abi_decode(list(types), data)


@pytest.mark.parametrize("types, values", [
    (("address",), ("0x1234",)), (("bytes32",), (b"short",)), (("uint64",), (-1,)), (("uint64",), (1 << 64,)),
    (("bool",), (1,)), (("uint64",), (True,)), (("address", "bytes32"), ("0x" + "00" * 20,)),
])
def test_encoding_refuses_values_outside_the_type(types, values):
    with pytest.raises(abiwords.AbiWordError):
        abiwords.encode(types, values)

"""Settings, sealed secrets, the anchor-proof encoding and its base58 decoding."""

from __future__ import annotations

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core import anchorproof, multiformats
from services.core.multiformats import b58decode, b58decode_python, b58encode, b58encode_python
from services.core.secretbox import SecretBoxError, open_sealed, seal
from services.core.settings import ServiceSettings, SettingsError


def test_sealed_secret_opens_only_with_the_same_key_and_record(tmp_path):
    token = seal("kek-1", b"private", "account:0xabc")
    assert b"private" not in token.encode()
    assert open_sealed("kek-1", token, "account:0xabc") == b"private"
    with pytest.raises(SecretBoxError):
        open_sealed("kek-2", token, "account:0xabc")
    with pytest.raises(SecretBoxError):
        open_sealed("kek-1", token, "account:0xdef")


def test_development_secrets_are_generated_once_and_reused(tmp_path, monkeypatch):
    for name in ("ADMIN_TOKEN", "SERVICE_TOKEN", "KEY_ENCRYPTION_KEY", "DATABASE_URL", "ENV"):
        monkeypatch.delenv(f"MICROCRED_{name}", raising=False)
    monkeypatch.setenv("MICROCRED_DATA_DIR", str(tmp_path))
    first = ServiceSettings()
    second = ServiceSettings()
    assert first.secret("admin_token") == second.secret("admin_token")
    assert len(first.secret("key_encryption_key")) >= 40
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0
    assert first.database_url == f"sqlite:///{(tmp_path / 'microcred.db').resolve()}"


def test_production_refuses_missing_or_placeholder_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROCRED_ENV", "production")
    monkeypatch.setenv("MICROCRED_DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/db")
    monkeypatch.setenv("MICROCRED_ADMIN_TOKEN", "changeme")
    monkeypatch.setenv("MICROCRED_SERVICE_TOKEN", "a-real-one-0123456789")
    monkeypatch.setenv("MICROCRED_KEY_ENCRYPTION_KEY", "another-real-one-0123456789")
    with pytest.raises(SettingsError, match="MICROCRED_ADMIN_TOKEN"):
        ServiceSettings()
    assert not (tmp_path / "secrets.json").exists()


def _receipt(**over):
    base = dict(chain_id=31337, contract="0x" + "ab" * 20, account="0x" + "cd" * 20, root="0x" + "11" * 32,
                path=("0x" + "22" * 32, "0x" + "33" * 32), tx_hash="0x" + "44" * 32, block_number=12)
    base.update(over)
    return anchorproof.AnchorReceipt(**base)


def test_anchor_proof_round_trips_and_is_found_in_a_proof_set():
    proof = anchorproof.encode(_receipt(), "2026-11-22T23:00:00Z")
    assert proof["verificationMethod"] == "eip155:31337:0x" + "cd" * 20
    found = anchorproof.find([{"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022"}, proof])
    assert anchorproof.decode(found) == _receipt()


def test_anchor_proof_refuses_tampering_and_junk():
    proof = anchorproof.encode(_receipt(), "2026-11-22T23:00:00Z")
    with pytest.raises(anchorproof.AnchorProofError):
        anchorproof.decode({**proof, "verificationMethod": "eip155:31337:0x" + "ee" * 20})
    with pytest.raises(anchorproof.AnchorProofError):
        anchorproof.decode({**proof, "proofValue": "zNotARealReceipt"})
    with pytest.raises(anchorproof.AnchorProofError):
        anchorproof.encode(_receipt(root="0x1234"), "2026-11-22T23:00:00Z")
    assert anchorproof.find({"cryptosuite": "eddsa-rdfc-2022"}) is None


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=4), st.binary(max_size=1200))
def test_base58_decoding_matches_the_base58_library(zeros, data):
    # Leading zero bytes are the '1' digits the library and the fast decoder must both keep.
    data = b"\0" * zeros + data
    encoded = base58.b58encode(data).decode()
    assert b58decode(encoded) == b58decode_python(encoded) == base58.b58decode(encoded) == data


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=4), st.binary(max_size=1200))
def test_base58_encoding_matches_the_base58_library(zeros, data):
    # GMP's encoder (and the pure-Python one it replaces where gmpy2 is missing) writes the
    # anchor proofs: byte for byte what the library writes.
    data = b"\0" * zeros + data
    assert b58encode(data) == b58encode_python(data) == base58.b58encode(data).decode()
    assert b58decode(b58encode(data)) == data


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\0", b"\xff" * 1100, b"\x01" + b"\0" * 1099])
def test_base58_encoding_edges(data):
    assert multiformats._gmpy2 is not None  # a declared dependency: the tests above compare both encoders
    assert b58encode(data) == b58encode_python(data) == base58.b58encode(data).decode()


@pytest.mark.parametrize("text", ["0", "O", "I", "l", "abc ", " abc", "ab\ncd", "é", "+/"])
def test_base58_decoding_refuses_characters_outside_the_alphabet(text):
    with pytest.raises(ValueError):
        b58decode(text)
    with pytest.raises(ValueError):
        b58decode_python(text)


@pytest.mark.parametrize("text", ["", "1", "111", "2", "z", "1z"])
def test_base58_decoding_edges(text):
    assert b58decode(text) == b58decode_python(text) == base58.b58decode(text)


@settings(max_examples=100)
@given(st.binary(max_size=100))
def test_multibase_decoding_matches_the_base58_library(data):
    # Signatures and multikeys decode through our decoder now: the same bytes as the library's.
    assert multiformats.multibase_decode("z" + base58.b58encode(data).decode()) == base58.b58decode(
        base58.b58encode(data)) == data


@pytest.mark.parametrize("value", ["z3yZe7d ", "z3yZe7d\n", "z 3yZe7d", "zé", "z0OIl", "m3yZe7d", ""])
def test_multibase_decoding_refuses_whitespace_and_other_alphabets(value):
    # The library strips trailing whitespace; a proof value with any is not base58btc.
    with pytest.raises(multiformats.MultiformatError):
        multiformats.multibase_decode(value)

"""Issuer chain accounts: created here, sealed at rest, opened only to sign."""

from __future__ import annotations

from eth_account import Account

from services.core.secretbox import open_sealed, seal


def _aad(address: str) -> str:
    return f"microcred:registry:account:{address.lower()}"


def new_sealed_account(key_encryption_key: str) -> tuple[str, str]:
    """A fresh account: (checksum address, private key sealed with the key-encryption key)."""
    account = Account.create()
    return account.address, seal(key_encryption_key, bytes(account.key), _aad(account.address))


def open_account_key(key_encryption_key: str, address: str, sealed_key: str) -> bytes:
    return open_sealed(key_encryption_key, sealed_key, _aad(address))

"""Encryption at rest for private keys: AES-256-GCM under the key-encryption key.

The record's identity is bound in as associated data, so a sealed key copied onto
another issuer's row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class SecretBoxError(ValueError):
    pass


def _key(key_encryption_key: str) -> bytes:
    # Any string the operator configures becomes a 256-bit key; a generated one is
    # already 32 random bytes, so this loses nothing.
    return hashlib.sha256(key_encryption_key.encode()).digest()


def seal(key_encryption_key: str, plaintext: bytes, associated_data: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(key_encryption_key)).encrypt(nonce, plaintext, associated_data.encode())
    return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def open_sealed(key_encryption_key: str, token: str, associated_data: str) -> bytes:
    version, _, body = token.partition(":")
    if version != VERSION:
        raise SecretBoxError(f"unknown sealed-secret version {version!r}")
    raw = base64.urlsafe_b64decode(body)
    try:
        return AESGCM(_key(key_encryption_key)).decrypt(raw[:12], raw[12:], associated_data.encode())
    except InvalidTag:
        raise SecretBoxError("sealed secret does not open with this key-encryption key") from None

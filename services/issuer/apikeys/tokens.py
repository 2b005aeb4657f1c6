"""API keys: random, shown once, stored as SHA-256, recognisable by their prefix.

A key is ``mc_live_`` + 43 URL-safe characters (256 random bits), so a plain SHA-256 is
enough to store it: nothing is left to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX = "mc_live_"
SCOPES = ("issue", "revoke", "read", "manage")  # an issuer's (what POST /api/v1/api-keys may grant)
# What the first key of a new issuer gets: everything.
ALL_SCOPES = list(SCOPES)
# An endorser's only scope (docs/endorsements.md): sign, list and withdraw its own endorsements.
ENDORSE = "endorse"
ENDORSER_SCOPES = [ENDORSE]


def allowed_scopes(kind: str) -> frozenset[str]:
    """What a key of an organisation of this kind may ever do, whatever its row says."""
    return frozenset(ENDORSER_SCOPES) if kind == "endorser" else frozenset(SCOPES)


@dataclass(frozen=True)
class NewApiKey:
    key: str          # shown once
    display_prefix: str
    key_hash: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewApiKey:
    key = PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(key=key, display_prefix=key[: len(PREFIX) + 6], key_hash=hash_key(key))


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX) and 20 <= len(token) <= 128

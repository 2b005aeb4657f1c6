"""The learner key: HMAC-SHA256 of the normalised email under the issuer's own learner secret.

The secret is 32 random bytes per issuer, sealed at rest with the key-encryption key
(services.core.secretbox) and bound to the issuer's id, as signing keys are. Without it a
stored key cannot be tested against a guessed address, and one issuer's keys say nothing
about another's learners (docs/learners.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from services.core.secretbox import open_sealed, seal
from services.issuer.credentials.document import normalize_email


def _aad(issuer_id: str) -> str:
    return f"microcred:issuer:learner-secret:{issuer_id}"


def new_sealed_secret(key_encryption_key: str, issuer_id: str) -> str:
    return seal(key_encryption_key, secrets.token_bytes(32), _aad(issuer_id))


@lru_cache(maxsize=4096)  # one AES-GCM open per issuer and process; the sealed value never changes
def open_secret(key_encryption_key: str, issuer_id: str, sealed: str) -> bytes:
    return open_sealed(key_encryption_key, sealed, _aad(issuer_id))


def email_key(secret: bytes, email: str) -> str:
    """64 hex digits; the same address (trimmed, lower-cased) always gives the same key for one issuer."""
    return hmac.new(secret, normalize_email(email).encode("utf-8"), hashlib.sha256).hexdigest()

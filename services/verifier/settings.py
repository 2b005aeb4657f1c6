"""The verifier's settings: the shared ones plus fetching and caching limits."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from services.core.settings import ServiceSettings


class VerifierSettings(ServiceSettings):
    # A whole report is reused this long per credential id: revocation shows within seconds.
    report_ttl: float = 2.0
    # A "not revoked" older than this is not a passed check.
    revocation_freshness: float = 30.0
    # The block the contract was deployed in: the revocation index reads its logs from there.
    revocations_from_block: int = Field(default=0, ge=0)
    # Pasted URLs: what may be fetched, how much, how fast.
    fetch_max_bytes: int = 512 * 1024
    fetch_timeout: float = 5.0
    trusted_hosts: str = ""  # comma-separated, beyond our own public base and issuer hosts
    # POST /api/v1/verify per client address.
    rate_limit_per_minute: int = 120


@lru_cache
def get_settings() -> VerifierSettings:
    return VerifierSettings()

"""The registry's settings: the shared ones plus anchoring and the operator's account."""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr, model_validator

from services.core.settings import ServiceSettings, SettingsError

# anvil's well-known first dev account: only ever a default on the embedded dev chain.
DEV_OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


class RegistrySettings(ServiceSettings):
    # Cut a batch when its oldest hash has waited this long, or when it is this full.
    anchor_interval: float = 2.0
    anchor_max_leaves: int = 10_000
    # revokeBatch writes one storage slot per hash, so batches must stay under the block gas limit.
    revoke_max_per_tx: int = 200
    # How often the worker passes while there is work, and how deep a re-org it watches for.
    poll_interval: float = 0.5
    # How long it waits after a pass that found nothing (one query). New work wakes it at once:
    # the API's NOTIFY on PostgreSQL, any commit to a SQLite file (its data_version, looked at
    # four times a second: services/core/wakeup.py).
    idle_interval: float = 5.0
    # While idle, how often it still asks the chain whether it moved (new blocks confirm mined
    # jobs; a re-org may drop recent ones). Any queued or unsent work makes it ask at once.
    chain_check_interval: float = 5.0
    reorg_window: int = 12
    # A broadcast transaction seen neither mined nor pending for this long is sent again.
    resend_after: float = 20.0
    # A worker holds each chain account's lease this long per renewal; a dead worker's
    # accounts pass to another after it. Must exceed the longest pass (a 10,000-leaf cut).
    lease_seconds: float = 30.0
    # The platform operator's account: owner of the contract, registers issuers, funds them.
    owner_private_key: SecretStr | None = None
    # Wei given to each new issuer account from the owner's; 0 = the operator funds them.
    fund_wei: int = -1
    # Run the anchoring worker inside the API process (handy for one-process setups).
    run_worker: bool = False
    # `python -m services.registry.worker` serves /metrics on this port (0 = not at all; docs/operations.md).
    worker_metrics_port: int = 0

    @model_validator(mode="after")
    def _registry_defaults(self) -> RegistrySettings:
        if self.anchor_max_leaves < 1 or self.revoke_max_per_tx < 1:
            raise SettingsError("MICROCRED_ANCHOR_MAX_LEAVES and MICROCRED_REVOKE_MAX_PER_TX must be positive")
        if self.owner_private_key is None:
            if self.env == "production":
                raise SettingsError("MICROCRED_OWNER_PRIVATE_KEY is required in production")
            self.owner_private_key = SecretStr(DEV_OWNER_KEY)
        if self.fund_wei < 0:
            self.fund_wei = 10**18 if self.env == "development" else 0
        return self


@lru_cache
def get_settings() -> RegistrySettings:
    return RegistrySettings()

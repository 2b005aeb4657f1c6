"""The issuer's settings: the shared ones plus images, batches and the outbox relay."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import model_validator

from services.core.settings import ServiceSettings, SettingsError


class IssuerSettings(ServiceSettings):
    # Uploaded achievement images and logos (PNG or SVG), bytes and pixels.
    image_max_bytes: int = 512 * 1024
    image_max_pixels: int = 4096
    # Bulk issuance: most recipients in one request, rows per database transaction,
    # processes that canonicalise and sign (0 = one per CPU core).
    batch_max_recipients: int = 10_000
    batch_chunk: int = 250
    sign_processes: int = 0
    # Run the batch runner thread inside the API process (it claims batches by lease,
    # so a separate outbox process may run one too).
    run_batches: bool = True
    # Run the outbox relay inside the API process too (one-process setups; tests).
    run_outbox: bool = False
    # `python -m services.issuer.outbox` serves /metrics on this port (0 = not at all; docs/operations.md).
    outbox_metrics_port: int = 0
    # The relay: how often it looks for work while some is outstanding, how long it waits
    # after passes that found none at all (doubling up to this; woken at once by a commit on a
    # SQLite file or NOTIFY on PostgreSQL), how long it waits for the registry.
    outbox_interval: float = 0.5
    outbox_idle_interval: float = 5.0
    registry_timeout: float = 10.0
    # Anchor receipts polled per relay pass (the registry has one receipt per GET).
    receipt_polls_per_pass: int = 2_000
    # A synchronous try at the registry while an issuer is created (then the outbox).
    registry_create_timeout: float = 3.0
    # Status lists: a changed list is re-signed and published at most once per this many
    # seconds (also their max-age). Tests only (ignored in production): indices a new list
    # hands out, so that a list fills up quickly; 0 = statuslist.MIN_ENTRIES.
    status_list_interval: float = 2.0
    test_status_list_entries: int = 0
    # Pathways (docs/pathways.md): run the award runner thread in the API process (it claims
    # jobs by lease, so the outbox process runs one too), and how often it looks for work.
    run_awards: bool = True
    award_interval: float = 0.5
    # The batch and award runners' longest wait after passes with nothing to do (doubling up
    # to this): the API wakes the ones beside it at once when it queues work for them.
    runner_idle_interval: float = 5.0
    # Where external components are verified (the verifier's POST /api/v1/verify); empty =
    # MICROCRED_PUBLIC_BASE_URL. How long to wait, and how often a counted one is checked again.
    verifier_url: str = ""
    verifier_timeout: float = 10.0
    external_recheck_seconds: float = 3600.0
    # A counted external component is asked again before an award that may rest on it
    # when its last check is older than this.
    external_freshness: float = 30.0
    # Webhooks (docs/webhooks.md). Hosts a webhook URL may name even on a private address
    # (comma-separated; the verifier reads the same variable); development also allows loopback.
    trusted_hosts: str = ""
    # Run the deliverer thread in the API process too (it holds a lease, so one process delivers).
    run_webhooks: bool = False
    # How often the deliverer looks for due deliveries; how long one attempt may take.
    webhook_interval: float = 0.25
    # With no delivery pending at all, the longest rest between two looks (a new one wakes it).
    webhook_idle_interval: float = 2.0
    # (the whole attempt: DNS, connecting, sending, the response's status and headers).
    webhook_timeout: float = 5.0
    # Retries: the n-th failed attempt waits base * 2**(n-1) seconds, at most max; a delivery still
    # failing once its next attempt would fall more than retry_for after it was queued is failed.
    webhook_retry_base: float = 10.0
    webhook_retry_max: float = 4 * 3600.0
    webhook_retry_for: float = 24 * 3600.0
    # Endpoints sent to at once (each endpoint's deliveries go one after another).
    webhook_concurrency: int = 8
    # Delivered and failed deliveries, and events none of them still needs, are deleted this
    # many days after they were queued: the delivery log (and redelivery) reaches that far back.
    webhook_retention_days: float = 30.0

    @model_validator(mode="after")
    def _issuer_defaults(self) -> IssuerSettings:
        if not 1 <= self.batch_chunk <= 5_000:
            raise SettingsError("MICROCRED_BATCH_CHUNK must be between 1 and 5000")
        if not 1 <= self.batch_max_recipients <= 100_000:
            raise SettingsError("MICROCRED_BATCH_MAX_RECIPIENTS must be between 1 and 100000")
        if not 0 < self.status_list_interval <= 3600:
            raise SettingsError("MICROCRED_STATUS_LIST_INTERVAL must be more than 0 and at most 3600 seconds")
        if self.env == "production" or self.test_status_list_entries < 0:
            self.test_status_list_entries = 0
        if not self.verifier_url:
            self.verifier_url = self.public_base_url
        self.verifier_url = self.verifier_url.rstrip("/")
        if not (0 < self.webhook_retry_base <= self.webhook_retry_max and self.webhook_retry_for > 0
                and self.webhook_timeout > 0 and self.webhook_interval > 0 and self.webhook_concurrency >= 1
                and self.webhook_retention_days > 0):
            raise SettingsError("MICROCRED_WEBHOOK_*: the intervals, timeout and retry window must be positive, "
                                "RETRY_BASE at most RETRY_MAX, CONCURRENCY at least 1, RETENTION_DAYS positive")
        if self.sign_processes <= 0:
            self.sign_processes = os.cpu_count() or 1
        return self


@lru_cache
def get_settings() -> IssuerSettings:
    return IssuerSettings()

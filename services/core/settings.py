"""Settings shared by every service, read from the environment (the README's settings).

Every variable has the ``MICROCRED_`` prefix. In development (the embedded default) any
secret left unset is generated once and kept in ``<data dir>/secrets.json`` so that a
restart reuses it; in production a missing or placeholder secret refuses to start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FIELDS = ("admin_token", "service_token", "key_encryption_key")
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "dev", "test"}


class SettingsError(RuntimeError):
    """The configuration cannot be used; the message says which variable and why."""


def _generate(name: str) -> str:
    # 32 random bytes each; the key-encryption key is used as an AES-256-GCM key.
    return secrets.token_urlsafe(32)


def load_or_create_dev_secrets(data_dir: Path) -> dict[str, str]:
    """The development secrets kept under the data folder, generating the missing ones.

    Several processes may start on a fresh folder at once (``make run``'s services, parallel CLI
    runs): the first file to be linked into place wins and the others read it, so they all hold
    the same secrets. Each is written 0600 under a name of its own first, so a half-written file
    is never read.
    """
    path = data_dir / "secrets.json"
    for _ in range(5):
        existed = path.exists()
        stored: dict[str, str] = json.loads(path.read_text()) if existed else {}
        missing = [name for name in SECRET_FIELDS if not stored.get(name)]
        if not missing:
            return stored
        stored.update({name: _generate(name) for name in missing})
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".secrets-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(stored, fh, indent=2)
            if existed:
                os.replace(tmp, path)  # an older file lacking a newer secret: completed
            else:
                try:
                    os.link(tmp, path)  # atomic, and refused when another process was first
                except FileExistsError:
                    continue  # read the winner's
            return stored
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    raise SettingsError(f"could not create {path}")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICROCRED_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".data")
    database_url: str = ""
    eth_rpc_url: str = "http://127.0.0.1:8545"
    contract_address: str = ""
    confirmations: int = 1
    public_base_url: str = "http://127.0.0.1:8000"
    issuer_url: str = "http://127.0.0.1:8001"
    registry_url: str = "http://127.0.0.1:8002"
    admin_token: SecretStr | None = None
    service_token: SecretStr | None = None
    key_encryption_key: SecretStr | None = None
    # Largest request body any route accepts; routes may set a smaller one.
    max_body_bytes: int = 2 * 1024 * 1024
    log_level: str = "info"
    # One JSON object per line (production), or plain text lines (docs/operations.md).
    log_format: Literal["json", "text"] = "json"
    # /metrics: with a token, it wants "Authorization: Bearer <token>"; without, loopback clients only.
    metrics_token: SecretStr | None = None
    # Where processes without an HTTP API (registry worker, outbox relay) serve /metrics, if they do
    # (MICROCRED_WORKER_METRICS_PORT, MICROCRED_OUTBOX_METRICS_PORT).
    worker_metrics_host: str = "127.0.0.1"
    # Gas is counted per issuer (one series each); false = one series for all of them.
    metrics_per_issuer: bool = True

    @model_validator(mode="after")
    def _fill_defaults(self) -> ServiceSettings:
        if self.confirmations < 1:
            raise SettingsError("MICROCRED_CONFIRMATIONS must be at least 1")
        if not self.database_url:
            if self.env == "production":
                raise SettingsError("MICROCRED_DATABASE_URL is required in production")
            self.database_url = f"sqlite:///{(self.data_dir / 'microcred.db').resolve()}"
        if not self.contract_address and self.env == "development":
            self.contract_address = read_deployment(self.data_dir).get("contract", "")
        if self.metrics_token is not None and not self.metrics_token.get_secret_value().strip():
            self.metrics_token = None  # set but empty: as if unset
        if self.metrics_token is not None and (
                len(self.metrics_token.get_secret_value().strip()) < 16
                or self.metrics_token.get_secret_value().strip().lower() in PLACEHOLDERS):
            raise SettingsError("MICROCRED_METRICS_TOKEN must be at least 16 characters and not a placeholder")
        unset = [n for n in SECRET_FIELDS if getattr(self, n) is None]
        if self.env == "production":
            bad = [n for n in SECRET_FIELDS
                   if getattr(self, n) is None or getattr(self, n).get_secret_value().strip().lower() in PLACEHOLDERS]
            if bad:
                raise SettingsError("set real values for " + ", ".join(f"MICROCRED_{n.upper()}" for n in bad))
        elif unset:
            generated = load_or_create_dev_secrets(self.data_dir)
            for name in unset:
                setattr(self, name, SecretStr(generated[name]))
        self.public_base_url = self.public_base_url.rstrip("/")
        self.issuer_url = self.issuer_url.rstrip("/")
        self.registry_url = self.registry_url.rstrip("/")
        return self

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        assert value is not None  # filled in by the validator
        return value.get_secret_value()


def read_deployment(data_dir: Path) -> dict:
    """What the embedded dev chain recorded at its first start (contract address, chain id)."""
    path = data_dir / "deployment.json"
    return json.loads(path.read_text()) if path.exists() else {}

"""Request and response bodies of the registry API (DESIGN §6)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_HASH = re.compile(r"^0x[0-9a-f]{64}$")


def _bytes32(value: str) -> str:
    value = value.strip().lower()
    if not value.startswith("0x"):
        value = "0x" + value
    if not _HASH.match(value):
        raise ValueError("must be 32 bytes as 0x-prefixed hex (64 hex digits)")
    if value == "0x" + "00" * 32:
        raise ValueError("the zero hash is not a credential hash")
    return value


Bytes32 = Annotated[str, AfterValidator(_bytes32)]
IssuerRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssuerCreate(Strict):
    issuer_id: IssuerRef
    did: str = Field(min_length=1, max_length=512)
    public_key: Bytes32 = Field(description="the issuer's current Ed25519 public key, 32 bytes as 0x hex")


class IssuerRead(BaseModel):
    issuer_id: str
    did: str
    address: str
    public_key: str
    state: Literal["registering", "active"]


class KeyRotate(Strict):
    public_key: Bytes32 | None = Field(None, description="a new Ed25519 key to register (validFrom = now)")
    retire: Bytes32 | None = Field(None, description="a key to retire")
    retire_at: int | None = Field(None, ge=0, description="unix time the retired key stops being valid; default now")
    compromised: bool = False


class HashesIn(Strict):
    issuer_id: IssuerRef
    hashes: list[Bytes32] = Field(min_length=1, max_length=10_000)


class QueuedOut(BaseModel):
    issuer_id: str
    queued: int
    already_queued: int


class AnchorReceipt(BaseModel):
    hash: str
    state: Literal["queued", "submitted", "confirmed"]
    account: str
    chainId: int | None
    contract: str | None
    root: str | None
    proof: list[str] | None
    txHash: str | None
    blockNumber: int | None
    anchoredAt: str | None = Field(None, description="the anchoring block's timestamp (UTC)")
    confirmations: int | None


class RevocationRead(BaseModel):
    hash: str
    account: str
    state: Literal["queued", "submitted", "confirmed"]
    txHash: str | None
    blockNumber: int | None


class ChainStatus(BaseModel):
    chainId: int | None
    contract: str
    headBlock: int | None
    healthy: bool
    error: str | None = None
    confirmationsRequired: int
    unconfirmedAnchors: int
    pendingRevocations: int
    failedJobs: int
    anchoringLagSeconds: float
    lastAnchorConfirmedAt: str | None
    ownerBalanceWei: int | None = None

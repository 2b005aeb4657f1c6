"""Request and response bodies of the registry API (docs/registry.md)."""

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


JobChainState = Literal["queued", "submitted", "confirmed", "failed"]


class KeyRetirementState(BaseModel):
    state: JobChainState = Field(description="where the retireKey transaction stands")
    compromised: bool
    requested_valid_until: int = Field(description="what was asked: 0 = the block time, else unix seconds")
    valid_until: int | None = Field(None, description="the key's validUntil on chain (unix seconds), once mined")
    job_id: int
    tx_hash: str | None = None
    error: str | None = None


class KeyChainState(BaseModel):
    """One Ed25519 key of the issuer and where its registration (and retirement) stands on chain."""

    public_key: str
    state: JobChainState = Field(description="where its registerIssuer / addKey transaction stands; hashes it "
                                             "signed are anchored only once this is `confirmed`")
    valid_from: int | None = Field(None, description="the key's validFrom on chain (block time, unix seconds), once mined")
    job_id: int
    tx_hash: str | None = None
    block_number: int | None = None
    error: str | None = Field(None, description="why the contract refused it, if `failed`")
    anchors_waiting: int = Field(0, description="hashes signed by this key, queued and not yet in a batch")
    retirement: KeyRetirementState | None = None


class IssuerRead(BaseModel):
    issuer_id: str
    did: str
    address: str
    public_key: str
    state: Literal["registering", "active"]
    keys: list[KeyChainState] = Field(default_factory=list, description="every key, oldest first")
    anchors_waiting_for_unknown_keys: int = Field(
        0, description="queued hashes signed by a key this registry never registered for the issuer (they wait)")


class KeyRotate(Strict):
    public_key: Bytes32 | None = Field(None, description="a new Ed25519 key to register (validFrom = its block time)")
    retire: Bytes32 | None = Field(None, description="a key to retire")
    retire_at: int | None = Field(None, ge=0, lt=2**64,
                                  description="unix seconds the key stops counting: for a normal retirement "
                                              "the second the issuer stopped signing with it (kept even if the "
                                              "block clock has not reached it); for a compromise the time it "
                                              "leaked (kept even before the key's validFrom; a future time means "
                                              "the block time); null or 0 = the block time")
    compromised: bool = False


class HashesIn(Strict):
    issuer_id: IssuerRef
    hashes: list[Bytes32] = Field(min_length=1, max_length=10_000)


class AnchorsIn(HashesIn):
    public_key: Bytes32 | None = Field(None, description="the Ed25519 key (0x hex) that signed these credentials: "
                                                         "they are batched only once it is registered on chain")
    flush: bool = Field(False, description="the last hashes of a batch: anchor them in the next pass, without "
                                           "waiting MICROCRED_ANCHOR_INTERVAL for more")


class ReceiptsIn(Strict):
    hashes: list[Bytes32] = Field(min_length=1, max_length=10_000)


class ReceiptsOut(BaseModel):
    receipts: list["AnchorReceipt | None"] = Field(description="one per hash asked, in order; null for a hash "
                                                               "never queued")


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


class StatusListIn(Strict):
    issuer_id: IssuerRef
    list_id: Bytes32 = Field(description="keccak256 of the UTF-8 bytes of the status list credential's URL (its id)")
    hash: Bytes32 = Field(description="the list credential's credential hash (SHA-256 of its RDFC form without proof)")
    version: int = Field(ge=1, lt=2**63, description="this version of the list; only the newest reaches the chain")


class StatusListQueued(BaseModel):
    issuer_id: str
    list_id: str
    version: int
    state: Literal["queued", "submitted", "confirmed", "superseded"] = Field(
        description="where this version stands; `superseded`: a newer version is known, this one is never sent")


class StatusListRead(BaseModel):
    issuer_id: str
    list_id: str
    version: int = Field(description="the newest version known for the list")
    hash: str
    state: Literal["queued", "submitted", "confirmed"]
    txHash: str | None
    blockNumber: int | None
    setAt: str | None = Field(None, description="the block time of the setStatusList(s) that set it (UTC), once mined")


class FailedJob(BaseModel):
    id: int
    kind: str
    issuer_id: str | None
    account: str | None = Field(description="the issuer account the job is about (or sent from)")
    error: str | None
    failedAt: str | None
    acknowledged: bool


class WaitingKey(BaseModel):
    issuer_id: str
    public_key: str
    state: Literal["queued", "submitted", "failed", "unknown"]
    anchors_waiting: int
    oldest_waiting_seconds: float


class ChainStatus(BaseModel):
    chainId: int | None
    contract: str
    headBlock: int | None
    healthy: bool = Field(description="the chain answers, and no failed job waits for an acknowledgement, "
                                      "and no hash waits long for a key that is failed or unknown")
    chainReachable: bool
    error: str | None = None
    problems: list[str] = Field(default_factory=list)
    confirmationsRequired: int
    unconfirmedAnchors: int
    pendingRevocations: int
    pendingStatusListUpdates: int = Field(0, description="status list versions queued or sent, not yet confirmed "
                                                         "(versions superseded by a newer one are not counted)")
    statusListLagSeconds: float = Field(0.0, description="how long the oldest of them has waited")
    failedJobs: int
    unacknowledgedFailedJobs: int
    recentFailedJobs: list[FailedJob] = Field(description="the latest unacknowledged failed jobs, newest first")
    anchorsWaitingForKeys: list[WaitingKey] = Field(
        default_factory=list, description="queued hashes held back until their signing key is on chain")
    anchoringLagSeconds: float
    lastAnchorConfirmedAt: str | None
    ownerBalanceWei: int | None = None


class JobRead(BaseModel):
    id: int
    kind: str
    state: str
    issuer_id: str | None
    account: str | None
    error: str | None
    failedAt: str | None
    acknowledgedAt: str | None


ReceiptsOut.model_rebuild()

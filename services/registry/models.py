"""The registry's tables. Everything that must reach the chain is a row first (docs/architecture.md)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.core.db import UTCDateTime, new_metadata, string_enum, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class AccountState(enum.StrEnum):
    registering = "registering"  # waiting for the owner's registerIssuer to confirm
    active = "active"


class ItemState(enum.StrEnum):
    queued = "queued"
    submitted = "submitted"
    confirmed = "confirmed"


class JobKind(enum.StrEnum):
    fund = "fund"
    register_issuer = "register_issuer"
    add_key = "add_key"
    retire_key = "retire_key"
    anchor = "anchor"
    revoke = "revoke"
    status_list = "status_list"  # setStatusList / setStatusLists: the newest version of each list


class StatusListState(enum.StrEnum):
    queued = "queued"
    submitted = "submitted"
    confirmed = "confirmed"
    superseded = "superseded"  # a newer version of the list was queued: this one is never sent


class JobState(enum.StrEnum):
    pending = "pending"      # built, not yet signed
    sent = "sent"            # signed (raw tx stored) and broadcast, not yet mined
    mined = "mined"          # in a block, waiting for confirmations
    confirmed = "confirmed"  # enough confirmations; still watched for re-orgs in a window
    failed = "failed"        # refused by the contract for good (its error is kept)




def _waiting_index(name: str) -> Index:
    """Only the rows still waiting for the chain: what /metrics counts on every scrape (migration 0009)."""
    where = text("state IN ('queued', 'submitted')")
    return Index(name, "state", "created_at", sqlite_where=where, postgresql_where=where)


class ChainAccount(Base):
    """One Ethereum account per issuer; its private key is sealed with the key-encryption key."""

    __tablename__ = "registry_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(String(64), unique=True)
    did: Mapped[str] = mapped_column(String(512))
    address: Mapped[str] = mapped_column(String(42), unique=True)
    sealed_key: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(66))  # the current Ed25519 key, 0x hex
    state: Mapped[AccountState] = mapped_column(string_enum(AccountState, "account_state"), default=AccountState.registering)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChainJob(Base):
    """One intended contract call: built, signed, broadcast, mined, confirmed.

    A job keeps its identity when its transaction is re-sent (dropped, re-orged out), so
    the anchors and revocations that point to it follow the new transaction.
    """

    __tablename__ = "registry_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(42))
    kind: Mapped[JobKind] = mapped_column(string_enum(JobKind, "job_kind"))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[JobState] = mapped_column(string_enum(JobState, "job_state"), default=JobState.pending)
    # Set for anchor jobs: the Merkle root (0x hex), unique so a root is never built twice.
    root: Mapped[str | None] = mapped_column(String(66), unique=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    raw_tx: Mapped[str | None] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    block_time: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the block's timestamp
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The issuer account an owner job is about (fund, register_issuer, add_key, retire_key): key
    # jobs of one account are applied in order, and anchors wait for their key's job.
    subject: Mapped[str | None] = mapped_column(String(42))
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An operator has seen this failed job (POST /api/v1/jobs/{id}/acknowledge): health is green again.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_registry_jobs_sender_state", "sender", "state"),
                      Index("ix_registry_jobs_subject", "subject"),
                      Index("ix_registry_jobs_state_failed_at", "state", "failed_at"),
                      # The worker's due-work query: unsettled jobs, and confirmed ones in the re-org window.
                      Index("ix_registry_jobs_state_block", "state", "block_number"))


class Anchor(Base):
    """A credential hash to anchor, and once batched, its receipt."""

    __tablename__ = "registry_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"))
    state: Mapped[ItemState] = mapped_column(string_enum(ItemState, "item_state"), default=ItemState.queued)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("registry_jobs.id"))
    # The Merkle path, sibling hashes concatenated as hex without 0x (64 chars each).
    proof: Mapped[str | None] = mapped_column(Text)
    # The Ed25519 key (0x hex) that signed the credential: the hash is batched only once that key
    # is registered on chain for this account. None (rows from before): batched at once.
    public_key: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Queued with ``flush``: the caller sent the last of a batch, so the worker cuts a root at once
    # instead of waiting MICROCRED_ANCHOR_INTERVAL for more (docs/registry.md).
    flush: Mapped[bool | None] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_registry_anchors_account_state", "account_id", "state"),
                      Index("ix_registry_anchors_job", "job_id"),
                      Index("ix_registry_anchors_state_account", "state", "account_id"),
                      _waiting_index("ix_registry_anchors_waiting"))


class Revocation(Base):
    """A credential hash its issuer revokes, batched into revokeBatch transactions."""

    __tablename__ = "registry_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"))
    hash: Mapped[str] = mapped_column(String(66))
    state: Mapped[ItemState] = mapped_column(string_enum(ItemState, "item_state"), default=ItemState.queued)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("registry_jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "hash"),
                      Index("ix_registry_revocations_account_state", "account_id", "state"),
                      Index("ix_registry_revocations_job", "job_id"),
                      Index("ix_registry_revocations_state_account", "state", "account_id"),
                      _waiting_index("ix_registry_revocations_waiting"))


class StatusListUpdate(Base):
    """One version of one of an issuer's status lists: its hash, to be set on chain unless a newer
    version of the same list comes first (then this one is ``superseded``, never sent)."""

    __tablename__ = "registry_status_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"))
    list_id: Mapped[str] = mapped_column(String(66))  # keccak256 of the list credential's URL, 0x hex
    version: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(66))  # the list credential's credential hash, 0x hex
    state: Mapped[StatusListState] = mapped_column(string_enum(StatusListState, "status_list_state"),
                                                   default=StatusListState.queued)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("registry_jobs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "list_id", "version"),
                      Index("ix_registry_status_lists_account_state", "account_id", "state"),
                      Index("ix_registry_status_lists_job", "job_id"),
                      Index("ix_registry_status_lists_state_account", "state", "account_id"),
                      _waiting_index("ix_registry_status_lists_waiting"))


class Lease(Base):
    """Who may send transactions for a chain account, until when (one writer per account)."""

    __tablename__ = "registry_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

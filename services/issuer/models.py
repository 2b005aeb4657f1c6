"""The issuer's tables (all prefixed ``issuer_``). What must reach the registry is a row first (docs/architecture.md).

Room for what comes after issue 3, built as nullable JSON so that adding it needs no
migration of existing rows: ``IssuerAchievement.extra``, ``Issuer.extra``. Status lists have
their own tables (``issuer_status_*``, migration 0006), endorsements theirs
(``issuer_endorsements``, migration 0013, docs/endorsements.md).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.core.db import UTCDateTime, new_metadata, string_enum, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class RegistryState(enum.StrEnum):
    pending = "pending"          # the registry has not accepted the issuer yet (outbox)
    registering = "registering"  # it has a chain account; registration on chain not yet confirmed
    active = "active"            # registered on chain


class KeyState(enum.StrEnum):
    active = "active"    # signs new credentials
    retired = "retired"  # no longer signs; what it signed before valid_until stays valid


class AnchorState(enum.StrEnum):
    pending = "pending"    # hash in the outbox, not yet handed to the registry
    queued = "queued"      # the registry has it; waiting for a confirmed anchor
    anchored = "anchored"  # anchor proof attached to the document


class BatchState(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"


class OutboxKind(enum.StrEnum):
    register_issuer = "register_issuer"
    rotate_key = "rotate_key"
    anchor = "anchor"
    revoke = "revoke"
    status_list = "status_list"  # a new version of a status list: its hash to be set on chain


class OutboxState(enum.StrEnum):
    pending = "pending"
    done = "done"
    failed = "failed"  # refused by the registry for good (its answer is kept)




class OrganisationKind(enum.StrEnum):
    issuer = "issuer"      # issues credentials of its achievements
    endorser = "endorser"  # only signs endorsements of others' achievements and issuers (docs/endorsements.md)


class Issuer(Base):
    """An organisation with its own DID, key and chain account: an issuer (a tenant), or an endorser.

    Endorsers are issuer rows of kind ``endorser`` (migration 0013): they reuse the DID, the
    signing keys, the chain account, anchoring and status lists; what they may do is decided by
    their API key's scopes, which ``deps.get_principal`` narrows to what their kind allows.
    """

    __tablename__ = "issuer_issuers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[OrganisationKind] = mapped_column(string_enum(OrganisationKind, "organisation_kind"),
                                                   default=OrganisationKind.issuer,
                                                   server_default=OrganisationKind.issuer.value)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(512))
    email: Mapped[str] = mapped_column(String(320))
    logo_url: Mapped[str | None] = mapped_column(String(1024))
    linkedin_organization_id: Mapped[str | None] = mapped_column(String(64))
    did: Mapped[str] = mapped_column(String(512), unique=True)
    registry_state: Mapped[RegistryState] = mapped_column(string_enum(RegistryState, "registry_state"),
                                                          default=RegistryState.pending)
    chain_address: Mapped[str | None] = mapped_column(String(42))
    chain_id: Mapped[int | None] = mapped_column(BigInteger)
    # The key of its learners' email hashes (docs/learners.md), sealed like signing keys; made on first use.
    sealed_learner_secret: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by triggers on every change to what issuing reads about the issuer (its signing keys,
    # achievements, pathway components, webhook endpoints): the key of the per-process cache of
    # those (credentials/context.py). Migration 0018.
    config_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # The relay's due-work query: issuers whose registration it still follows.
    __table_args__ = (Index("ix_issuer_issuers_registry_state", "registry_state", "chain_id"),)


class Learner(Base):
    """One person as an issuer knows them: an HMAC of their email (never the address), and a DID."""

    __tablename__ = "issuer_learners"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    email_key: Mapped[str | None] = mapped_column(String(64))
    did: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "email_key", name="uq_issuer_learners_email_key"),
                      UniqueConstraint("issuer_id", "did", name="uq_issuer_learners_did"))


class SigningKey(Base):
    """An Ed25519 key that signs credentials; the private half is sealed with the key-encryption key."""

    __tablename__ = "issuer_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    public_key: Mapped[str] = mapped_column(String(66), unique=True)  # 0x + 32 bytes hex
    multikey: Mapped[str] = mapped_column(String(64))                 # z6Mk…
    sealed_private_key: Mapped[str] = mapped_column(Text)
    state: Mapped[KeyState] = mapped_column(string_enum(KeyState, "key_state"), default=KeyState.active)
    compromised: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Signatures made after this time are not valid (retirement, or the compromise time).
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_issuer_signing_keys_issuer_state", "issuer_id", "state"),
        # Exactly one active key per issuer, whatever races (migration 0004).
        Index("uq_issuer_signing_keys_one_active", "issuer_id", unique=True,
              sqlite_where=text("state = 'active'"), postgresql_where=text("state = 'active'")),
    )


class ApiKey(Base):
    """An issuer's API key: only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "issuer_api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(24))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Image(Base):
    """A validated PNG or sanitised SVG, served publicly under its SHA-256 (so it never changes)."""

    __tablename__ = "issuer_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "sha256"),)


class Achievement(Base):
    """An OB 3.0 Achievement definition; credentials copy it at issuance."""

    __tablename__ = "issuer_achievements"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    criteria_narrative: Mapped[str | None] = mapped_column(Text)
    criteria_url: Mapped[str | None] = mapped_column(String(1024))
    image_url: Mapped[str | None] = mapped_column(String(1024))
    image_caption: Mapped[str | None] = mapped_column(String(500))
    achievement_type: Mapped[str | None] = mapped_column(String(64))
    alignment: Mapped[list] = mapped_column(JSON, default=list)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    validity_days: Mapped[int | None] = mapped_column(Integer)
    # A pathway's requirement in normal form {"k", "of": [element…]} (pathways.requirements);
    # null for an achievement issued by hand. Migration 0008.
    requires: Mapped[dict | None] = mapped_column(JSON)
    level: Mapped[str | None] = mapped_column(String(20))  # foundational, intermediate, advanced
    category: Mapped[str | None] = mapped_column(String(64))  # the skill category: soft, technical, industry …
    hours: Mapped[float | None] = mapped_column(Float)
    credits: Mapped[float | None] = mapped_column(Float)
    extra: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Credential(Base):
    """An issued credential: the signed document as served, and where it stands."""

    __tablename__ = "issuer_credentials"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the random credential_id of its URL
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    # None for a generic W3C VC issued through the VC-API (docs/vc-api.md): it names no achievement
    achievement_id: Mapped[str | None] = mapped_column(ForeignKey("issuer_achievements.id"))
    signing_key_id: Mapped[int] = mapped_column(ForeignKey("issuer_signing_keys.id"))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("issuer_batches.id"))
    batch_row: Mapped[int | None] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)  # JSON text, exactly as served
    credential_hash: Mapped[str] = mapped_column(String(66), unique=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anchor_state: Mapped[AnchorState] = mapped_column(string_enum(AnchorState, "anchor_state"), default=AnchorState.pending)
    anchor_next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    # Suspension (credentials with status list entries only): lifted by clearing both.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    # Null for credentials issued before learners (docs/learners.md).
    learner_id: Mapped[str | None] = mapped_column(ForeignKey("issuer_learners.id"))
    replaces: Mapped[str | None] = mapped_column(String(64))  # renewal: the credential this one succeeds
    replaced_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_issuer_credentials_issuer_created", "issuer_id", "created_at"),
                      Index("ix_issuer_credentials_anchor", "anchor_state", "issuer_id"),
                      # With the anchor state: a batch's progress is counted from the index alone (0017).
                      Index("ix_issuer_credentials_batch", "batch_id", "batch_row", "anchor_state"),
                      Index("ix_issuer_credentials_learner", "learner_id"),
                      Index("ix_issuer_credentials_expiry", "issuer_id", "valid_until"),
                      # Only credentials still waiting for their anchor: what /metrics counts (migration 0009).
                      Index("ix_issuer_credentials_unanchored", "anchor_state", "created_at",
                            sqlite_where=text("anchor_state <> 'anchored'"),
                            postgresql_where=text("anchor_state <> 'anchored'")))


class Batch(Base):
    """A bulk issuance, processed in chunks by a background runner that holds its lease.

    ``rows`` holds the validated recipients until the batch is done, then is cleared
    (it is the only place plain email addresses are ever kept).
    """

    __tablename__ = "issuer_batches"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"), index=True)
    achievement_id: Mapped[str] = mapped_column(ForeignKey("issuer_achievements.id"))
    state: Mapped[BatchState] = mapped_column(string_enum(BatchState, "batch_state"), default=BatchState.queued)
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[list | None] = mapped_column(JSON)
    errors: Mapped[list] = mapped_column(JSON, default=list)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    lease_holder: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_issuer_batches_state", "state"),)


class IdempotencyRecord(Base):
    """An ``Idempotency-Key`` an issuer used, the body it came with and what it created."""

    __tablename__ = "issuer_idempotency"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    resource_kind: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "key"),)


class OutboxMessage(Base):
    """A call the registry must receive; written in the same transaction as its cause."""

    __tablename__ = "issuer_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    kind: Mapped[OutboxKind] = mapped_column(string_enum(OutboxKind, "outbox_kind"))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(string_enum(OutboxState, "outbox_state"), default=OutboxState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_issuer_outbox_state_id", "state", "id"),)


class StatusList(Base):
    """One W3C Bitstring Status List of an issuer (migration 0006): a purpose, a number, its URL.

    ``capacity`` indices are handed out at random (``issuer_status_entries``); the bitstring
    itself is always at least statuslist.MIN_ENTRIES bits. ``changes`` counts what changed
    (creation included) and is bumped in the same transaction as each change; the publisher
    signs a new version when ``changes > published_changes`` and the last version is at
    least MICROCRED_STATUS_LIST_INTERVAL old. ``version`` is the newest published version
    (0: none yet).
    """

    __tablename__ = "issuer_status_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    purpose: Mapped[str] = mapped_column(String(20))   # revocation | suspension
    number: Mapped[int] = mapped_column(Integer)       # 1, 2, … per issuer and purpose
    url: Mapped[str] = mapped_column(String(1024))     # kept: credentials point to it
    list_id: Mapped[str] = mapped_column(String(66))   # 0x keccak256(url): its id on chain
    capacity: Mapped[int] = mapped_column(Integer)
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    changes: Mapped[int] = mapped_column(BigInteger, default=1)
    published_changes: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "purpose", "number"),
                      Index("ix_issuer_status_lists_pending", "issuer_id", "purpose", "full"),
                      # Only the lists with unpublished changes: what the relay's due-work query reads.
                      Index("ix_issuer_status_lists_unpublished", "published_at",
                            sqlite_where=text("changes > published_changes"),
                            postgresql_where=text("changes > published_changes")))


class StatusEntry(Base):
    """An index of a status list given to a credential; unique per list, its bit in ``is_set``.

    Written before the credential row when a batch chunk reserves its indices (so
    ``credential_id`` is not a foreign key): an index whose credential never got written
    stays reserved and unset, which costs one unused bit.
    """

    __tablename__ = "issuer_status_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status_list_id: Mapped[int] = mapped_column(ForeignKey("issuer_status_lists.id"))
    index: Mapped[int] = mapped_column(Integer)
    credential_id: Mapped[str] = mapped_column(String(64))
    is_set: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("status_list_id", "index"),
                      Index("ix_issuer_status_entries_credential", "credential_id"),
                      Index("ix_issuer_status_entries_set", "status_list_id", "is_set"))


class StatusListVersion(Base):
    """One signed version of a status list, kept for ever (served at ``{list url}/versions/{hash}``)."""

    __tablename__ = "issuer_status_list_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status_list_id: Mapped[int] = mapped_column(ForeignKey("issuer_status_lists.id"))
    version: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(66))  # 0x credential_hash of the list credential
    document: Mapped[str] = mapped_column(Text)     # JSON text, exactly as served
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("status_list_id", "version"),
                      Index("ix_issuer_status_list_versions_hash", "status_list_id", "hash"))


class Lease(Base):
    """Who runs the outbox relay, until when (one relay at a time, however many processes)."""

    __tablename__ = "issuer_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PathwayComponent(Base):
    """One element of a pathway's requirement, so that issuing a component finds its pathways by index."""

    __tablename__ = "issuer_pathway_components"

    pathway_id: Mapped[str] = mapped_column(ForeignKey("issuer_achievements.id"), primary_key=True)
    component: Mapped[str] = mapped_column(String(1100), primary_key=True)  # an achievement id or "ext:…"
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))

    __table_args__ = (Index("ix_issuer_pathway_components_component", "issuer_id", "component"),)


class AwardJob(Base):
    """"Look at this learner's pathways": written in the same transaction as the component that may
    complete one, worked by the award runner under a lease (docs/pathways.md)."""

    __tablename__ = "issuer_award_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    learner_id: Mapped[str] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_holder: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_issuer_award_jobs_due", "next_attempt_at"),)


class PathwayAward(Base):
    """A pathway credential given to a learner: unique per (issuer, learner, pathway) — the award happens once."""

    __tablename__ = "issuer_pathway_awards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    learner_id: Mapped[str] = mapped_column(String(40))
    pathway_id: Mapped[str] = mapped_column(ForeignKey("issuer_achievements.id"))
    credential_id: Mapped[str] = mapped_column(String(64))
    components: Mapped[list] = mapped_column(JSON)  # [{"url", "hash", "credential_id"?, "external_id"?}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "learner_id", "pathway_id", name="uq_issuer_pathway_awards_once"),
                      Index("ix_issuer_pathway_awards_credential", "credential_id"))


class ExternalCredential(Base):
    """A credential of another issuer submitted for a learner; counts only while ``state`` is ``valid``.

    ``state`` is the verifier's last verdict (``pending`` until it has answered); ``next_check_at``
    is when it is asked again (docs/pathways.md, "Components from elsewhere").
    """

    __tablename__ = "issuer_external_credentials"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    learner_id: Mapped[str] = mapped_column(String(40))
    document: Mapped[str] = mapped_column(Text)
    credential_hash: Mapped[str] = mapped_column(String(66))
    credential_url: Mapped[str | None] = mapped_column(String(1024))
    issuer_did: Mapped[str] = mapped_column(String(512))
    achievement_url: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "learner_id", "credential_hash",
                                       name="uq_issuer_external_credentials_once"),
                      Index("ix_issuer_external_credentials_learner", "issuer_id", "learner_id"),
                      Index("ix_issuer_external_credentials_check", "next_check_at"))


class LearnerProfile(Base):
    """A learner's public profile (docs/learners.md, "The profile"): one per learner at a time.

    The id is the only secret of the page's URL (192 random bits); withdrawing deletes the row,
    so the id is gone at once and a later profile gets a new one. Migration 0012.
    """

    __tablename__ = "issuer_learner_profiles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    learner_id: Mapped[str] = mapped_column(ForeignKey("issuer_learners.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("issuer_id", "learner_id", name="uq_issuer_learner_profiles_one"),)


# One standing endorsement per endorser and subject (migration 0013 writes the same predicates).
STANDING_ACHIEVEMENT = "standing AND achievement_id IS NOT NULL"
STANDING_ISSUER = "standing AND subject_issuer_id IS NOT NULL"


class Endorsement(Base):
    """An endorsement credential (its row in ``issuer_credentials``, same id) and what it is about.

    Exactly one of ``achievement_id`` (an achievement) and ``subject_issuer_id`` (an issuer) is set;
    the verifier lists an achievement's endorsements with those of its issuer (docs/endorsements.md).
    ``standing`` is true until the credential is revoked: the partial unique indexes let the database
    refuse a second standing endorsement of one subject by one endorser, whatever races.
    """

    __tablename__ = "issuer_endorsements"

    id: Mapped[str] = mapped_column(ForeignKey("issuer_credentials.id"), primary_key=True)
    endorser_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    achievement_id: Mapped[str | None] = mapped_column(ForeignKey("issuer_achievements.id"))
    subject_issuer_id: Mapped[str | None] = mapped_column(ForeignKey("issuer_issuers.id"))
    comment: Mapped[str] = mapped_column(Text)
    standing: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_issuer_endorsements_achievement", "achievement_id", "created_at"),
                      Index("ix_issuer_endorsements_subject_issuer", "subject_issuer_id", "created_at"),
                      Index("ix_issuer_endorsements_endorser", "endorser_id", "created_at"),
                      Index("uq_issuer_endorsements_standing_achievement", "endorser_id", "achievement_id",
                            unique=True, sqlite_where=text(STANDING_ACHIEVEMENT),
                            postgresql_where=text(STANDING_ACHIEVEMENT)),
                      Index("uq_issuer_endorsements_standing_issuer", "endorser_id", "subject_issuer_id",
                            unique=True, sqlite_where=text(STANDING_ISSUER), postgresql_where=text(STANDING_ISSUER)))


class WebhookState(enum.StrEnum):
    pending = "pending"      # not yet answered 2xx; retried with backoff until the retry window ends
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"        # still not delivered when the retry window ended (redeliver to try again)


class WebhookEndpoint(Base):
    """A partner's URL and the events it wants (docs/webhooks.md); the signing secret sealed at rest."""

    __tablename__ = "issuer_webhook_endpoints"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)
    sealed_secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_issuer_webhook_endpoints_issuer", "issuer_id"),)


class WebhookEvent(Base):
    """One event as sent: its stable id (the ``webhook-id`` of every attempt) and the exact body."""

    __tablename__ = "issuer_webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))  # the credential (or endorsement) it is about
    body: Mapped[str] = mapped_column(Text)               # JSON text, the same bytes on every attempt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_issuer_webhook_events_created", "created_at"),)  # the retention prune


class WebhookDelivery(Base):
    """One event for one endpoint, and its delivery log; ``id`` orders them (per endpoint and subject)."""

    __tablename__ = "issuer_webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("issuer_webhook_endpoints.id"))
    issuer_id: Mapped[str] = mapped_column(ForeignKey("issuer_issuers.id"))
    event_id: Mapped[str] = mapped_column(ForeignKey("issuer_webhook_events.id"))
    subject_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[WebhookState] = mapped_column(string_enum(WebhookState, "webhook_state"),
                                                default=WebhookState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who is sending it right now, until when: no other deliverer takes it before then (docs/webhooks.md).
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_issuer_webhook_deliveries_endpoint", "endpoint_id", "id"),
                      Index("ix_issuer_webhook_deliveries_created", "created_at"),  # the retention prune
                      # Only deliveries still to make: the deliverer's "earlier one pending?" and due-work
                      # queries, and /metrics.
                      Index("ix_issuer_webhook_deliveries_pending", "endpoint_id", "subject_id", "id",
                            sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
                      Index("ix_issuer_webhook_deliveries_due", "next_attempt_at",
                            sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
                      Index("ix_issuer_webhook_deliveries_failed", "created_at",
                            sqlite_where=text("state = 'failed'"), postgresql_where=text("state = 'failed'")))

"""The registry's use cases, called by the endpoints. They flush; the request commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, NotFound
from services.registry import repository as repo
from services.registry.accounts import new_sealed_account
from services.registry.chain import ChainError, RegistryChain
from services.registry.models import AccountState, ChainAccount, ItemState, JobKind
from services.registry.schemas import (AnchorReceipt, ChainStatus, HashesIn, IssuerCreate, IssuerRead, KeyRotate,
                                       QueuedOut, RevocationRead)
from services.registry.settings import RegistrySettings


def _issuer_read(account: ChainAccount) -> IssuerRead:
    return IssuerRead(issuer_id=account.issuer_id, did=account.did, address=account.address,
                      public_key=account.public_key, state=account.state.value)


def create_issuer(session: Session, settings: RegistrySettings, owner: str, body: IssuerCreate) -> tuple[IssuerRead, bool]:
    """Create the issuer's account and queue its funding and registration; idempotent on issuer_id."""
    existing = repo.account_by_issuer(session, body.issuer_id)
    if existing is not None:
        if existing.did != body.did or existing.public_key != body.public_key:
            raise Conflict(f"issuer {body.issuer_id!r} already has a chain account with another DID or key")
        return _issuer_read(existing), False
    address, sealed = new_sealed_account(settings.secret("key_encryption_key"))
    account = ChainAccount(issuer_id=body.issuer_id, did=body.did, address=address, sealed_key=sealed,
                           public_key=body.public_key, state=AccountState.registering, created_at=utcnow())
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"issuer {body.issuer_id!r} is being created by another request") from None
    if settings.fund_wei > 0:
        repo.add_job(session, owner, JobKind.fund, {"to": address, "value": settings.fund_wei})
    repo.add_job(session, owner, JobKind.register_issuer,
                 {"account": address, "did": body.did, "publicKey": body.public_key})
    return _issuer_read(account), True


def get_issuer(session: Session, issuer_id: str) -> IssuerRead:
    return _issuer_read(_account(session, issuer_id))


def rotate_key(session: Session, owner: str, issuer_id: str, body: KeyRotate) -> IssuerRead:
    account = _account(session, issuer_id)
    if body.public_key is None and body.retire is None:
        raise Conflict("nothing to do: give public_key to add, retire to retire, or both")
    if body.public_key is not None:
        repo.add_job(session, owner, JobKind.add_key, {"account": account.address, "publicKey": body.public_key})
        account.public_key = body.public_key
    if body.retire is not None:
        repo.add_job(session, owner, JobKind.retire_key,
                     {"account": account.address, "publicKey": body.retire, "validUntil": body.retire_at or 0,
                      "compromised": body.compromised})
    session.flush()
    return _issuer_read(account)


def _account(session: Session, issuer_id: str) -> ChainAccount:
    account = repo.account_by_issuer(session, issuer_id)
    if account is None:
        raise NotFound(f"no chain account for issuer {issuer_id!r}")
    return account


def queue_anchors(session: Session, body: HashesIn) -> QueuedOut:
    """Queue hashes for anchoring; a hash already queued for this issuer is not queued twice."""
    account = _account(session, body.issuer_id)
    hashes = list(dict.fromkeys(body.hashes))
    existing = repo.anchors_by_hash(session, hashes)
    foreign = [h for h, a in existing.items() if a.account_id != account.id]
    if foreign:
        raise Conflict(f"{len(foreign)} hash(es) are already queued by another issuer, e.g. {foreign[0]}")
    new = [h for h in hashes if h not in existing]
    repo.insert_anchors(session, account.id, new)
    return QueuedOut(issuer_id=body.issuer_id, queued=len(new), already_queued=len(hashes) - len(new))


def queue_revocations(session: Session, body: HashesIn) -> QueuedOut:
    account = _account(session, body.issuer_id)
    hashes = list(dict.fromkeys(body.hashes))
    existing = repo.existing_revocations(session, account.id, hashes)
    new = [h for h in hashes if h not in existing]
    repo.insert_revocations(session, account.id, new)
    return QueuedOut(issuer_id=body.issuer_id, queued=len(new), already_queued=len(hashes) - len(new))


def _confirmations(block_number: int | None, head: int | None) -> int | None:
    if block_number is None or head is None:
        return None
    return max(0, head - block_number + 1)


def anchor_receipt(session: Session, chain: RegistryChain | None, head: Callable[[], int | None],
                   credential_hash: str) -> AnchorReceipt:
    found = repo.anchor_with_job(session, credential_hash)
    if found is None:
        raise NotFound(f"hash {credential_hash} was never queued for anchoring")
    anchor, job, account = found
    sent = job is not None and job.tx_hash is not None and anchor.state != ItemState.queued
    proof = [("0x" + anchor.proof[i:i + 64]) for i in range(0, len(anchor.proof), 64)] if sent and anchor.proof is not None else None
    return AnchorReceipt(
        hash=anchor.hash, state=anchor.state.value, account=account.address,
        chainId=chain.chain_id if (sent and chain) else None,
        contract=chain.contract_address if (sent and chain) else None,
        root=job.root if sent else None, proof=proof,
        txHash=job.tx_hash if sent else None,
        blockNumber=job.block_number if sent else None,
        anchoredAt=job.block_time.strftime("%Y-%m-%dT%H:%M:%SZ") if sent and job.block_time else None,
        confirmations=_confirmations(job.block_number, head()) if sent else None)


def revocation_state(session: Session, credential_hash: str) -> list[RevocationRead]:
    rows = repo.revocation_with_job(session, credential_hash)
    if not rows:
        raise NotFound(f"hash {credential_hash} was never queued for revocation")
    return [RevocationRead(hash=r.hash, account=acct.address, state=r.state.value,
                           txHash=job.tx_hash if job else None, blockNumber=job.block_number if job else None)
            for r, job, acct in rows]


def chain_status(session: Session, settings: RegistrySettings, chain: RegistryChain | None, owner: str) -> ChainStatus:
    stats = repo.queue_stats(session)
    now = datetime.now(UTC)
    oldest = stats["oldest"]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    lag = (now - oldest).total_seconds() if oldest else 0.0
    last = stats["last_anchor"]
    status = dict(contract=settings.contract_address, confirmationsRequired=settings.confirmations,
                  unconfirmedAnchors=stats["unconfirmed"], pendingRevocations=stats["revocations"],
                  failedJobs=stats["failed_jobs"], anchoringLagSeconds=round(lag, 3),
                  lastAnchorConfirmedAt=last.isoformat() if last else None)
    if chain is None:
        return ChainStatus(chainId=None, headBlock=None, healthy=False, error="no contract configured", **status)
    try:
        return ChainStatus(chainId=chain.chain_id, headBlock=chain.head(), healthy=True,
                           ownerBalanceWei=chain.balance(owner), **status)
    except ChainError as exc:
        return ChainStatus(chainId=None, headBlock=None, healthy=False, error=str(exc), **status)

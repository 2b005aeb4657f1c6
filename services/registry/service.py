"""The registry's use cases, called by the endpoints. They flush; the request commits."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, NotFound
from services.registry import repository as repo
from services.registry.accounts import new_sealed_account
from services.registry.chain import ChainError, RegistryChain
from services.registry.models import (AccountState, Anchor, ChainAccount, ChainJob, ItemState, JobKind, JobState,
                                      StatusListState, StatusListUpdate)
from services.registry.schemas import (AnchorReceipt, AnchorsIn, ChainStatus, FailedJob, HashesIn, IssuerCreate,
                                       IssuerRead, JobRead, KeyChainState, KeyRetirementState, KeyRotate, QueuedOut,
                                       RevocationRead, StatusListIn, StatusListQueued, StatusListRead, WaitingKey)
from services.registry.settings import RegistrySettings


def _job_state(job: ChainJob) -> str:
    """A job as the API shows it: queued (not yet sent), submitted (sent or mined), confirmed, failed."""
    if job.state == JobState.pending:
        return "submitted" if job.attempts > 0 else "queued"
    if job.state in (JobState.sent, JobState.mined):
        return "submitted"
    return job.state.value


def _stamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _key_states(session: Session, account: ChainAccount) -> tuple[list[KeyChainState], int]:
    """Every key of the account with the state of its registration and retirement jobs, and how
    many queued hashes name a key the registry never registered for it."""
    keys: dict[str, KeyChainState] = {}
    retirements: list[ChainJob] = []
    for job in repo.key_jobs(session, account.address):
        if job.kind == JobKind.retire_key:
            retirements.append(job)
            continue
        key = job.payload["publicKey"]
        if key in keys and keys[key].state != "failed":
            continue  # a delivery repeated: the first live job stands
        keys[key] = KeyChainState(
            public_key=key, state=_job_state(job), job_id=job.id,
            valid_from=int(job.block_time.timestamp()) if job.block_time and job.state != JobState.failed else None,
            tx_hash=job.tx_hash if job.state != JobState.pending or job.attempts else None,
            block_number=job.block_number, error=job.last_error if job.state == JobState.failed else None)
    for job in retirements:
        entry = keys.get(job.payload["publicKey"])
        if entry is None or (entry.retirement is not None and entry.retirement.state != "failed"):
            continue
        requested = int(job.payload["validUntil"])
        valid_until = None
        if job.block_time is not None and job.state != JobState.failed:
            block_time = int(job.block_time.timestamp())
            valid_until = block_time if requested == 0 or requested > block_time else requested
        entry.retirement = KeyRetirementState(
            state=_job_state(job), compromised=bool(job.payload["compromised"]), requested_valid_until=requested,
            valid_until=valid_until, job_id=job.id, tx_hash=job.tx_hash,
            error=job.last_error if job.state == JobState.failed else None)
    unknown = 0
    for key, count in repo.waiting_anchors_by_key(session, account.id).items():
        if key is None:
            continue
        if key in keys:
            keys[key].anchors_waiting = count
        else:
            unknown += count
    return list(keys.values()), unknown


def _issuer_read(session: Session, account: ChainAccount) -> IssuerRead:
    keys, unknown = _key_states(session, account)
    return IssuerRead(issuer_id=account.issuer_id, did=account.did, address=account.address,
                      public_key=account.public_key, state=account.state.value, keys=keys,
                      anchors_waiting_for_unknown_keys=unknown)


def create_issuer(session: Session, settings: RegistrySettings, owner: str, body: IssuerCreate) -> tuple[IssuerRead, bool]:
    """Create the issuer's account and queue its funding and registration; idempotent on issuer_id."""
    existing = repo.account_by_issuer(session, body.issuer_id)
    if existing is not None:
        if existing.did != body.did or existing.public_key != body.public_key:
            raise Conflict(f"issuer {body.issuer_id!r} already has a chain account with another DID or key")
        return _issuer_read(session, existing), False
    address, sealed = new_sealed_account(settings.secret("key_encryption_key"))
    account = ChainAccount(issuer_id=body.issuer_id, did=body.did, address=address, sealed_key=sealed,
                           public_key=body.public_key, state=AccountState.registering, created_at=utcnow())
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"issuer {body.issuer_id!r} is being created by another request") from None
    if settings.fund_wei > 0:
        repo.add_job(session, owner, JobKind.fund, {"to": address, "value": settings.fund_wei}, subject=address)
    repo.add_job(session, owner, JobKind.register_issuer,
                 {"account": address, "did": body.did, "publicKey": body.public_key}, subject=address)
    repo.notify_work(session)
    return _issuer_read(session, account), True


def get_issuer(session: Session, issuer_id: str) -> IssuerRead:
    return _issuer_read(session, _account(session, issuer_id))


def rotate_key(session: Session, owner: str, issuer_id: str, body: KeyRotate) -> IssuerRead:
    """Queue addKey and/or retireKey. Idempotent: a key already being added (or retired) by a job
    that has not failed is not queued again, so a repeated delivery changes nothing.

    ``retire_at`` is passed on as given (0 or none: the block time). For a normal retirement it is
    the second the issuer stopped signing with the key, by the issuer's clock, which a lagging
    block clock may not have reached: the contract keeps it, so nothing signed before is cut off.
    For a compromise the contract keeps a past time even before the key's validFrom (a future one
    becomes the block time). The worker sends every key job of an account in order, after the
    ones before it are confirmed, so none is refused for timing.
    """
    account = _account(session, issuer_id)
    if body.public_key is None and body.retire is None:
        raise Conflict("nothing to do: give public_key to add, retire to retire, or both")
    jobs = [j for j in repo.key_jobs(session, account.address) if j.state != JobState.failed]
    if body.public_key is not None:
        if not any(j.kind != JobKind.retire_key and j.payload["publicKey"] == body.public_key for j in jobs):
            repo.add_job(session, owner, JobKind.add_key, {"account": account.address, "publicKey": body.public_key},
                         subject=account.address)
        account.public_key = body.public_key
    if body.retire is not None:
        if not any(j.kind == JobKind.retire_key and j.payload["publicKey"] == body.retire for j in jobs):
            until = body.retire_at or 0
            repo.add_job(session, owner, JobKind.retire_key,
                         {"account": account.address, "publicKey": body.retire, "validUntil": until,
                          "compromised": body.compromised}, subject=account.address)
    session.flush()
    repo.notify_work(session)
    return _issuer_read(session, account)


def _account(session: Session, issuer_id: str) -> ChainAccount:
    account = repo.account_by_issuer(session, issuer_id)
    if account is None:
        raise NotFound(f"no chain account for issuer {issuer_id!r}")
    return account


def queue_anchors(session: Session, body: AnchorsIn | HashesIn) -> QueuedOut:
    """Queue hashes for anchoring; a hash already queued for this issuer is not queued twice.

    With ``public_key`` (the key that signed them) they are batched only once that key is
    registered on chain for this issuer, so no anchor ever lands before its key's registration.
    """
    account = _account(session, body.issuer_id)
    hashes = list(dict.fromkeys(body.hashes))
    existing = repo.anchors_by_hash(session, hashes)
    foreign = [h for h, a in existing.items() if a.account_id != account.id]
    if foreign:
        raise Conflict(f"{len(foreign)} hash(es) are already queued by another issuer, e.g. {foreign[0]}")
    new = [h for h in hashes if h not in existing]
    flush = bool(getattr(body, "flush", False))
    repo.insert_anchors(session, account.id, new, getattr(body, "public_key", None), flush=flush)
    if flush and len(new) < len(hashes):  # a retried delivery: those queued before are to go at once too
        repo.flush_anchors(session, account.id, [h for h in hashes if h in existing])
    if new or flush:
        repo.notify_work(session)
    return QueuedOut(issuer_id=body.issuer_id, queued=len(new), already_queued=len(hashes) - len(new))


def queue_revocations(session: Session, body: HashesIn) -> QueuedOut:
    account = _account(session, body.issuer_id)
    hashes = list(dict.fromkeys(body.hashes))
    existing = repo.existing_revocations(session, account.id, hashes)
    new = [h for h in hashes if h not in existing]
    repo.insert_revocations(session, account.id, new)
    if new:
        repo.notify_work(session)
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
    return _receipt(chain, head, *found)


def anchor_receipts(session: Session, chain: RegistryChain | None, head: Callable[[], int | None],
                    hashes: list[str]) -> list[AnchorReceipt | None]:
    """The receipts of many hashes (None for one never queued), in order: a few queries and one
    look at the head block, however many hashes (the issuer's relay asks for a batch at once)."""
    found = repo.anchors_with_jobs(session, hashes)
    head_block: list[int | None] = []

    def head_once() -> int | None:
        if not head_block:
            head_block.append(head())
        return head_block[0]

    return [_receipt_of(chain, head_once, found[h]) if h in found else None for h in hashes]


def _receipt(chain: RegistryChain | None, head: Callable[[], int | None], anchor: Anchor, job: ChainJob | None,
             account: ChainAccount) -> AnchorReceipt:
    return _receipt_of(chain, head, SimpleNamespace(
        hash=anchor.hash, state=anchor.state, proof=anchor.proof, address=account.address,
        tx_hash=job.tx_hash if job else None, root=job.root if job else None,
        block_number=job.block_number if job else None, block_time=job.block_time if job else None))


def _receipt_of(chain: RegistryChain | None, head: Callable[[], int | None], row) -> AnchorReceipt:
    """A receipt from ``repo.anchors_with_jobs``' columns (a job's are None without one)."""
    sent = row.tx_hash is not None and row.state != ItemState.queued
    proof = [("0x" + row.proof[i:i + 64]) for i in range(0, len(row.proof), 64)] if sent and row.proof is not None else None
    return AnchorReceipt(
        hash=row.hash, state=row.state.value, account=row.address,
        chainId=chain.chain_id if (sent and chain) else None,
        contract=chain.contract_address if (sent and chain) else None,
        root=row.root if sent else None, proof=proof,
        txHash=row.tx_hash if sent else None,
        blockNumber=row.block_number if sent else None,
        anchoredAt=row.block_time.strftime("%Y-%m-%dT%H:%M:%SZ") if sent and row.block_time else None,
        confirmations=_confirmations(row.block_number, head()) if sent else None)


def revocation_state(session: Session, credential_hash: str) -> list[RevocationRead]:
    rows = repo.revocation_with_job(session, credential_hash)
    if not rows:
        raise NotFound(f"hash {credential_hash} was never queued for revocation")
    return [RevocationRead(hash=r.hash, account=acct.address, state=r.state.value,
                           txHash=job.tx_hash if job else None, blockNumber=job.block_number if job else None)
            for r, job, acct in rows]


# -- status lists -----------------------------------------------------------------------------
def queue_status_list(session: Session, body: StatusListIn) -> StatusListQueued:
    """Queue one version of one of the issuer's status lists; idempotent per (issuer, list, version).

    The worker sets only the newest version of each list on chain. A version lower than one already
    known is kept (``superseded``) and never sent; a new newest version supersedes older ones still
    waiting. The same version with another hash is a conflict: a version names one list content.
    """
    account = _account(session, body.issuer_id)

    def answer(row: StatusListUpdate) -> StatusListQueued:
        if row.hash != body.hash:
            raise Conflict(f"version {body.version} of status list {body.list_id} was queued with another hash "
                           f"({row.hash})")
        return StatusListQueued(issuer_id=body.issuer_id, list_id=row.list_id, version=row.version,
                                state=row.state.value)

    existing = repo.status_list_version(session, account.id, body.list_id, body.version)
    if existing is not None:
        return answer(existing)
    newer = repo.highest_version(session, account.id, body.list_id) > body.version
    state = StatusListState.superseded if newer else StatusListState.queued
    try:
        with session.begin_nested():
            row = repo.insert_status_list(session, account.id, body.list_id, body.version, body.hash, state)
    except IntegrityError:  # the same version, queued by a request running alongside: its answer is ours
        existing = repo.status_list_version(session, account.id, body.list_id, body.version)
        if existing is None:
            raise
        return answer(existing)
    if not newer:
        repo.supersede_queued_below(session, account.id, body.list_id, body.version)
        repo.notify_work(session)
    return answer(row)


def status_list_state(session: Session, issuer_id: str, list_id: str) -> StatusListRead:
    """The newest version known of the issuer's list, and where it stands on chain."""
    account = _account(session, issuer_id)
    found = repo.newest_status_list(session, account.id, list_id)
    if found is None:
        raise NotFound(f"issuer {issuer_id!r} never queued status list {list_id}")
    row, job = found
    state = row.state.value if row.state != StatusListState.superseded else "queued"
    sent = job is not None and job.tx_hash is not None and state != "queued"
    return StatusListRead(issuer_id=issuer_id, list_id=row.list_id, version=row.version, hash=row.hash, state=state,
                          txHash=job.tx_hash if sent else None, blockNumber=job.block_number if sent else None,
                          setAt=_stamp(job.block_time) if sent else None)


def _issuer_of(job: ChainJob, accounts: dict[str, ChainAccount]) -> ChainAccount | None:
    return accounts.get(job.subject or "") or accounts.get(job.sender)


def _failed_job(job: ChainJob, accounts: dict[str, ChainAccount]) -> FailedJob:
    account = _issuer_of(job, accounts)
    return FailedJob(id=job.id, kind=job.kind.value, issuer_id=account.issuer_id if account else None,
                     account=account.address if account else (job.subject or job.sender), error=job.last_error,
                     failedAt=_stamp(job.failed_at), acknowledged=job.acknowledged_at is not None)


def _waiting_keys(session: Session) -> list[WaitingKey]:
    """Queued hashes held back because their key is not (yet) confirmed on chain."""
    rows = repo.queued_by_account_and_key(session)
    if not rows:
        return []
    now = datetime.now(UTC)
    out: list[WaitingKey] = []
    accounts = {a.id: a for a in session.scalars(select(ChainAccount).where(
        ChainAccount.id.in_(sorted({r[0] for r in rows}))))}
    states: dict[int, dict[str, KeyChainState]] = {}
    for account_id, key, count, oldest in rows:
        account = accounts[account_id]
        if account_id not in states:
            states[account_id] = {k.public_key: k for k in _key_states(session, account)[0]}
        entry = states[account_id].get(key)
        state = entry.state if entry else "unknown"
        if state == "confirmed":
            continue  # only waiting for its batch
        out.append(WaitingKey(issuer_id=account.issuer_id, public_key=key, state=state, anchors_waiting=count,
                              oldest_waiting_seconds=round((now - oldest).total_seconds(), 3) if oldest else 0.0))
    return out


# A hash naming a key the registry has not heard of may be a moment ahead of its rotation.
UNKNOWN_KEY_GRACE_SECONDS = 60.0
RECENT_FAILED_JOBS = 5


def chain_status(session: Session, settings: RegistrySettings, chain: RegistryChain | None, owner: str) -> ChainStatus:
    stats = repo.queue_stats(session)
    now = datetime.now(UTC)
    oldest = stats["oldest"]
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    lag = (now - oldest).total_seconds() if oldest else 0.0
    last = stats["last_anchor"]
    failed = repo.failed_jobs(session, RECENT_FAILED_JOBS, unacknowledged_only=True)
    accounts = repo.accounts_by_address(session, {a for j in failed for a in (j.subject, j.sender) if a})
    waiting = _waiting_keys(session)
    lists_waiting, lists_oldest = repo.status_list_stats(session)
    problems = []
    if stats["unacknowledged"]:
        problems.append(f"{stats['unacknowledged']} job(s) refused by the contract for good and not acknowledged "
                        f"(POST /api/v1/jobs/{{id}}/acknowledge, or /retry for key jobs)")
    for w in waiting:
        if w.state == "failed":
            problems.append(f"{w.anchors_waiting} hash(es) of issuer {w.issuer_id} wait for key {w.public_key}, "
                            f"whose registration on chain failed")
        elif w.state == "unknown" and w.oldest_waiting_seconds >= UNKNOWN_KEY_GRACE_SECONDS:
            problems.append(f"{w.anchors_waiting} hash(es) of issuer {w.issuer_id} name key {w.public_key}, "
                            f"which was never registered for that issuer")
    status = dict(contract=settings.contract_address, confirmationsRequired=settings.confirmations,
                  unconfirmedAnchors=stats["unconfirmed"], pendingRevocations=stats["revocations"],
                  pendingStatusListUpdates=lists_waiting,
                  statusListLagSeconds=round((now - lists_oldest).total_seconds(), 3) if lists_oldest else 0.0,
                  failedJobs=stats["failed_jobs"], unacknowledgedFailedJobs=stats["unacknowledged"],
                  recentFailedJobs=[_failed_job(j, accounts) for j in failed], anchorsWaitingForKeys=waiting,
                  anchoringLagSeconds=round(lag, 3), lastAnchorConfirmedAt=last.isoformat() if last else None)
    if chain is None:
        return ChainStatus(chainId=None, headBlock=None, healthy=False, chainReachable=False,
                           error="no contract configured", problems=["no contract configured", *problems], **status)
    try:
        return ChainStatus(chainId=chain.chain_id, headBlock=chain.head(), healthy=not problems, chainReachable=True,
                           ownerBalanceWei=chain.balance(owner), problems=problems, **status)
    except ChainError as exc:
        return ChainStatus(chainId=None, headBlock=None, healthy=False, chainReachable=False, error=str(exc),
                           problems=[f"chain unreachable: {exc}", *problems], **status)


# -- failed jobs ------------------------------------------------------------------------------
RETRYABLE = (JobKind.fund, JobKind.register_issuer, JobKind.add_key, JobKind.retire_key)


def _job_read(session: Session, job: ChainJob) -> JobRead:
    accounts = repo.accounts_by_address(session, {a for a in (job.subject, job.sender) if a})
    account = _issuer_of(job, accounts)
    return JobRead(id=job.id, kind=job.kind.value, state=job.state.value,
                   issuer_id=account.issuer_id if account else None,
                   account=account.address if account else (job.subject or job.sender), error=job.last_error,
                   failedAt=_stamp(job.failed_at), acknowledgedAt=_stamp(job.acknowledged_at))


def _job(session: Session, job_id: int) -> ChainJob:
    job = session.get(ChainJob, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def list_failed_jobs(session: Session, limit: int, unacknowledged_only: bool) -> list[JobRead]:
    return [_job_read(session, j) for j in repo.failed_jobs(session, limit, unacknowledged_only)]


def acknowledge_job(session: Session, job_id: int) -> JobRead:
    """An operator has seen a failed job: it no longer turns health red."""
    job = _job(session, job_id)
    if job.state != JobState.failed:
        raise Conflict(f"job {job_id} is {job.state.value}, not failed")
    if job.acknowledged_at is None:
        job.acknowledged_at = utcnow()
    session.flush()
    return _job_read(session, job)


def retry_job(session: Session, job_id: int) -> JobRead:
    """Send a failed owner job (fund, registration, key) again, e.g. once its cause is fixed."""
    job = _job(session, job_id)
    if job.state != JobState.failed:
        raise Conflict(f"job {job_id} is {job.state.value}, not failed")
    if job.kind not in RETRYABLE:
        raise Conflict(f"a failed {job.kind.value} job is not retried: its items went back to the queue "
                       f"and are batched again")
    job.state, job.failed_at, job.acknowledged_at = JobState.pending, None, None
    job.tx_hash = job.raw_tx = job.block_number = job.block_hash = job.block_time = None
    job.nonce = None
    session.flush()
    repo.notify_work(session)
    return _job_read(session, job)

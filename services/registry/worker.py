"""The anchoring worker: turns queued rows into contract transactions, exactly once.

Every pass, for each chain account with work, under that account's database lease:

1. **reconcile** what was broadcast: record the block, count confirmations, notice a
   transaction that was dropped or re-orged out (then send the same call again);
2. **cut batches** (issuer accounts): queued hashes → one Merkle root, one job;
   queued revocations → one ``revokeBatch`` job; the newest queued version of each status
   list → one ``setStatusList(s)`` job (older versions are superseded, never sent). A hash
   that names the key that signed it waits until that key's ``registerIssuer`` / ``addKey``
   is confirmed, so every anchor block comes at or after its key's registration block;
3. **send** pending jobs in order: sign, store the signed transaction, then broadcast. The
   key jobs of one issuer account (register, addKey, retireKey) go one at a time, each
   after the ones before it are confirmed.

Exactly once comes from the contract and from this order. The signed transaction is
committed *before* it is broadcast, so a crash leaves either nothing sent or a known
hash to look up. Before a job is sent again, the chain is asked whether its effect
already happened (root anchored, issuer registered, hashes revoked) and, if so, the
job adopts that transaction instead. And the contract refuses a root twice.

Run it with ``python -m services.registry.worker``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from services.core.db import transaction, utcnow
from services.core.merkle import MerkleTree
from services.registry import repository as repo
from services.registry.accounts import open_account_key
from services.registry.chain import ChainError, ChainUnavailable, ContractRevert, LogRef, RegistryChain, sign_tx
from services.registry.models import (Anchor, AccountState, ChainAccount, ChainJob, ItemState, JobKind, JobState,
                                      Revocation, StatusListState, StatusListUpdate)
from services.registry.settings import RegistrySettings
from services.registry.wakeup import Wakeup

log = logging.getLogger("microcred.registry.worker")

# Contract errors that mean "this already happened": the job adopts the earlier transaction.
ALREADY_DONE = {"RootAlreadyAnchored", "IssuerAlreadyRegistered", "AlreadyRevoked", "KeyAlreadyRegistered",
                "KeyAlreadyRetired"}


def _crash_point(name: str) -> None:
    """Fault-injection hook for the crash tests: die here, abruptly, when asked to."""
    if os.environ.get("MICROCRED_TEST_CRASH_AT") == name:
        log.warning("crash point %s reached: exiting abruptly", name)
        os._exit(86)


def _hex_proof(proof: list[bytes]) -> str:
    return "".join(p.hex() for p in proof)


class Worker:
    def __init__(self, settings: RegistrySettings, sessions: sessionmaker[Session], chain: RegistryChain,
                 owner_key: bytes, owner_address: str, holder: str | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.chain = chain
        self.owner_key = owner_key
        self.owner = owner_address
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl = timedelta(seconds=settings.lease_seconds)
        self._held: set[str] = set()
        self._warned: dict[tuple[str, str, str], float] = {}  # (account, key, why) -> when last logged
        self._seen_head: tuple[int, str] | None = None  # the head block at the end of the last whole pass
        self._chain_seen_at = 0.0  # time.monotonic() of the last look at the head block

    # -- the loop ----------------------------------------------------------------
    def run(self, stop: threading.Event, wakeup: Wakeup | None = None) -> None:
        """Pass after pass until ``stop``: every ``poll_interval`` while there is work, every
        ``idle_interval`` when there is none, or at once when the API signals new work (NOTIFY on
        PostgreSQL). The wake-up only shortens a wait; the poll alone never loses work. An idle
        pass is one query; the chain is asked whether it moved only every
        ``chain_check_interval`` until there is work again."""
        own = wakeup is None
        wakeup = wakeup or Wakeup(self.settings.database_url)
        backoff = self.settings.poll_interval
        busy = True
        try:
            while not stop.is_set():
                try:
                    look = time.monotonic() - self._chain_seen_at >= self.settings.chain_check_interval
                    busy = self.tick(look_at_chain=busy or look)
                    backoff = self.settings.poll_interval
                    delay = self.settings.poll_interval if busy else self.settings.idle_interval
                except ChainUnavailable as exc:
                    backoff = delay = min(max(backoff * 2, 1.0), 5.0)
                    log.warning("chain unavailable, retrying in %.1fs: %s", backoff, exc)
                except Exception:
                    backoff = delay = min(max(backoff * 2, 1.0), 5.0)
                    log.exception("worker pass failed, retrying in %.1fs", backoff)
                wakeup.wait(stop, delay)
        finally:
            if own:
                wakeup.close()
            self.release_leases()

    def release_leases(self) -> None:
        """On a clean stop, let another worker take over at once instead of after the TTL."""
        with transaction(self.sessions) as session:
            for name in self._held:
                repo.release_lease(session, name, self.holder)
        self._held.clear()

    def tick(self, force_cut: bool = False, look_at_chain: bool = True) -> bool:
        """One pass over the accounts that have work; True if any had. ``force_cut`` cuts batches
        without waiting.

        One query finds them (``repo.due_work``), whatever the number of issuers. Mined jobs and
        confirmed ones inside the re-org window are looked at again only when the head block
        changed (its number or its hash): their confirmations and a re-org both show there first.
        ``look_at_chain`` False (an idle loop between two looks at the chain): if nothing is
        queued or waiting to be sent, the pass ends after that one query, without a chain call.
        """
        if not look_at_chain and self._seen_head is not None:
            with transaction(self.sessions) as session:
                if not repo.due_work(session, None):
                    return False
        head, head_hash = self.chain.head_block()
        self._chain_seen_at = time.monotonic()
        watch_from = max(0, head - self.settings.reorg_window) if (head, head_hash) != self._seen_head else None
        with transaction(self.sessions) as session:
            due = repo.due_work(session, watch_from)
        for sender in sorted(due):
            self._process_sender(sender, due[sender], head, watch_from, force_cut)
        self._seen_head = (head, head_hash)  # only after a whole pass: one cut short looks again
        return bool(due)

    def _process_sender(self, sender: str, account_id: int | None, head: int, watch_from: int | None,
                        force_cut: bool) -> None:
        with transaction(self.sessions) as session:
            if not repo.acquire_lease(session, sender, self.holder, self.lease_ttl):
                return
        self._held.add(sender)
        self._reconcile(sender, head, watch_from)
        if account_id is not None:
            self._cut_anchor_batch(sender, account_id, force_cut)
            self._cut_revocation_batch(sender, account_id, force_cut)
            self._cut_status_list_batch(sender, account_id)
        budget = self.SENDS_PER_PASS
        for _ in range(self.SEND_ROUNDS):
            sent = self._send_pending(sender, budget)
            if not sent:
                break
            budget -= len(sent)
            # With instant or fast blocks the receipt is often there already: record it now
            # rather than a pass later, which may let the next key job of an account go. Only
            # the jobs just sent: the others were looked at when the pass began.
            head = self.chain.head()
            for job_id in sent:
                with transaction(self.sessions) as session:
                    job = session.get(ChainJob, job_id)
                    if job.state in (JobState.sent, JobState.mined):
                        self._reconcile_job(session, job, head)
            if budget <= 0:
                break

    # Rounds of send → reconcile per account and pass (key jobs of one issuer go one per round).
    SEND_ROUNDS = 8
    # Most transactions one account sends in a pass, so that a burst (a thousand new issuers,
    # all registered by the owner's account) cannot hold the other accounts' anchors for minutes.
    SENDS_PER_PASS = 100

    # -- 1. reconcile ------------------------------------------------------------
    def _reconcile(self, sender: str, head: int, watch_from: int | None) -> None:
        """``watch_from`` None: the chain has not moved, only broadcast jobs can have news."""
        with transaction(self.sessions) as session:
            job_ids = [j.id for j in repo.jobs_in_flight(session, sender, watch_from)]
        for job_id in job_ids:
            with transaction(self.sessions) as session:
                job = session.get(ChainJob, job_id)
                self._reconcile_job(session, job, head)

    def _reconcile_job(self, session: Session, job: ChainJob, head: int) -> None:
        receipt = self.chain.receipt(job.tx_hash) if job.tx_hash else None
        if receipt is None:
            if job.state in (JobState.mined, JobState.confirmed):
                log.warning("job %s (%s): tx %s left the chain in a re-org; sending again",
                            job.id, job.kind.value, job.tx_hash)
                self._back_to_pending(session, job, "re-orged out")
            elif self.chain.is_pending(job.tx_hash):
                return
            elif job.sent_at and utcnow() - job.sent_at > timedelta(seconds=self.settings.resend_after):
                log.warning("job %s: tx %s neither mined nor pending; sending again", job.id, job.tx_hash)
                self._back_to_pending(session, job, "dropped")
            else:
                self._broadcast(job)  # not seen yet: maybe the broadcast itself was lost
            return
        if receipt.status == 0:
            self._handle_revert(session, job, receipt.block_number)
            return
        self._record_mined(session, job, receipt.tx_hash, receipt.block_number, receipt.block_hash,
                           receipt.gas_used, head)

    def _record_mined(self, session: Session, job: ChainJob, tx_hash: str, block_number: int, block_hash: str,
                      gas_used: int | None, head: int) -> None:
        if job.block_hash != block_hash or job.block_time is None:
            job.block_time = datetime.fromtimestamp(self.chain.block_timestamp(block_number), UTC)
        job.tx_hash, job.block_number, job.block_hash = tx_hash, block_number, block_hash
        if gas_used is not None:
            job.gas_used = gas_used
        confirmations = head - block_number + 1
        if confirmations >= self.settings.confirmations:
            if job.state != JobState.confirmed:
                job.state = JobState.confirmed
                job.confirmed_at = utcnow()
                repo.set_items_state(session, job.id, ItemState.confirmed)
                if job.kind == JobKind.register_issuer:
                    account = repo.account_by_address(session, job.payload["account"])
                    if account is not None:
                        account.state = AccountState.active
                log.info("job %s (%s) confirmed in block %s", job.id, job.kind.value, block_number)
        else:
            job.state = JobState.mined
            repo.set_items_state(session, job.id, ItemState.submitted)

    def _back_to_pending(self, session: Session, job: ChainJob, why: str) -> None:
        job.state = JobState.pending
        job.block_number = job.block_hash = job.block_time = None
        job.confirmed_at = None
        job.last_error = why
        repo.set_items_state(session, job.id, ItemState.submitted)

    def _handle_revert(self, session: Session, job: ChainJob, block: int) -> None:
        call, args = self._call_for(job)
        reason = self.chain.revert_reason(job.sender, call, args, block - 1) if call != "transfer" else None
        name = reason.name if reason else "unknown revert"
        if self._adopt_existing_effect(session, job):
            return
        self._fail(session, job, str(reason) if reason else f"reverted ({name})")

    def _fail(self, session: Session, job: ChainJob, error: str) -> None:
        """The contract refuses this job for good: keep the error, give its items back to the queue.

        Loud: logged at ERROR, and listed by ``GET /api/v1/chain`` (health red) until acknowledged.
        """
        address = job.subject or job.sender
        account = repo.account_by_address(session, address)
        log.error("job %s (%s) for issuer %s (account %s) FAILED for good, refused by the contract: %s",
                  job.id, job.kind.value, account.issuer_id if account else "-", address, error)
        job.state, job.last_error = JobState.failed, error
        job.failed_at, job.acknowledged_at = utcnow(), None
        job.root = None  # the same hashes may form this root again in a later batch
        repo.release_items(session, job.id)

    # -- 2. cut batches --------------------------------------------------------------
    def _due(self, count: int, oldest: datetime | None, limit: int, force: bool) -> bool:
        if count == 0:
            return False
        if force or count >= limit:
            return True
        return oldest is not None and (datetime.now(UTC) - oldest).total_seconds() >= self.settings.anchor_interval

    def _cut_anchor_batch(self, sender: str, account_id: int, force: bool) -> None:
        """Batch the queued hashes whose signing key is confirmed on chain (or not recorded)."""
        limit = self.settings.anchor_max_leaves
        with transaction(self.sessions) as session:
            keys = repo.confirmed_keys(session, sender)
            self._report_waiting(session, sender, account_id, keys)
            count, oldest = repo.oldest_unbatched(session, Anchor, account_id, keys)
            # A batch's last hashes come with ``flush``: nothing more of it is coming to wait for.
            if not self._due(count, oldest, limit, force or (count > 0 and repo.flush_asked(session, account_id, keys))):
                return
            items = repo.unbatched(session, Anchor, account_id, limit, keys)
            tree = MerkleTree.build([bytes.fromhex(a.hash[2:]) for a in items])
            root = "0x" + tree.root.hex()
            # The paths before the first write: on SQLite the write lock is held from the job's INSERT
            # to the commit, and every other writer of the file (the issuer's batch runner) waits.
            proofs = [(a.id, _hex_proof(tree.proof(bytes.fromhex(a.hash[2:])))) for a in items]
            job = repo.add_job(session, sender, JobKind.anchor, {"root": root, "leafCount": len(items)}, root=root)
            repo.assign_to_job(session, Anchor, [{"id": i, "job_id": job.id, "proof": p} for i, p in proofs])
            log.info("batch of %d hashes for %s cut, root %s", len(items), sender, root)
        _crash_point("after_cut")

    WARN_EVERY = 300.0  # seconds between two ERROR lines about the same stuck key

    def _report_waiting(self, session: Session, address: str, account_id: int, confirmed: set[str]) -> None:
        """Hashes held back by a key whose registration failed for good, or that was never
        registered, stay queued (never lost); say so at ERROR now and then."""
        waiting = {k: n for k, n in repo.waiting_anchors_by_key(session, account_id).items()
                   if k is not None and k not in confirmed}
        if not waiting:
            return
        live: dict[str, ChainJob] = {}
        for job in repo.key_jobs(session, address):
            if job.kind != JobKind.retire_key:
                key = job.payload["publicKey"]
                if key not in live or live[key].state == JobState.failed:
                    live[key] = job
        now = time.monotonic()
        for key, count in waiting.items():
            job = live.get(key)
            why = "unknown" if job is None else ("failed" if job.state == JobState.failed else "")
            if not why or now - self._warned.get((address, key, why), -self.WARN_EVERY) < self.WARN_EVERY:
                continue
            self._warned[(address, key, why)] = now
            account = session.get(ChainAccount, account_id)
            if why == "failed":
                log.error("%d hash(es) of issuer %s stay queued: their key %s failed to register on chain "
                          "(job %s: %s)", count, account.issuer_id, key, job.id, job.last_error)
            else:
                log.error("%d hash(es) of issuer %s stay queued: their key %s was never registered for it",
                          count, account.issuer_id, key)

    def _cut_revocation_batch(self, sender: str, account_id: int, force: bool) -> None:
        limit = self.settings.revoke_max_per_tx
        with transaction(self.sessions) as session:
            count, oldest = repo.oldest_unbatched(session, Revocation, account_id)
            if not self._due(count, oldest, limit, force):
                return
            items = repo.unbatched(session, Revocation, account_id, limit)
            job = repo.add_job(session, sender, JobKind.revoke, {"hashes": [r.hash for r in items]})
            repo.assign_to_job(session, Revocation, [{"id": r.id, "job_id": job.id} for r in items])

    # Most status lists one setStatusLists carries (two storage slots and one event each).
    STATUS_LISTS_PER_TX = 100

    def _cut_status_list_batch(self, sender: str, account_id: int) -> None:
        """One job with the newest queued version of each of the account's lists.

        Only active accounts get here (their registration is confirmed). Nothing is cut while an
        earlier status-list job of the account waits to be sent or mined: the versions queued
        meanwhile coalesce into the next job (several updates of a list, one transaction). A
        version at or below one a job already carries is superseded: never sent after a newer one.
        """
        with transaction(self.sessions) as session:
            if repo.status_list_job_unsent(session, sender):
                return
            queued = repo.queued_status_lists(session, account_id)
            if not queued:
                return
            newest: dict[str, StatusListUpdate] = {}
            for row in queued:
                if row.list_id not in newest or row.version > newest[row.list_id].version:
                    newest[row.list_id] = row
            carried = repo.versions_in_jobs(session, account_id, list(newest))
            for row in queued:
                if newest[row.list_id] is not row or row.version <= carried.get(row.list_id, 0):
                    row.state = StatusListState.superseded
            chosen = sorted((r for r in newest.values() if r.state == StatusListState.queued),
                            key=lambda r: r.id)[:self.STATUS_LISTS_PER_TX]
            if not chosen:
                return
            job = repo.add_job(session, sender, JobKind.status_list, {"lists": [
                {"listId": r.list_id, "hash": r.hash, "version": r.version} for r in chosen]})
            for row in chosen:
                row.job_id = job.id
            log.info("status list update for %s cut: %d list(s) in one transaction", sender, len(chosen))

    def _refresh_status_lists(self, session: Session, job: ChainJob) -> None:
        """Before a status-list job is signed (again, after a re-org or a drop): carry the newest
        version of each of its lists. A newer version still queued takes the place of the job's; a
        list that a later job carries with a newer version leaves this job. Either way the version
        left out is superseded, so no version is ever set on chain after a newer one."""
        account = repo.account_by_address(session, job.sender)
        rows = repo.status_lists_of_job(session, job.id)
        if account is None or not rows:
            return
        list_ids = [r.list_id for r in rows]
        elsewhere = repo.versions_in_jobs(session, account.id, list_ids, except_job=job.id)
        waiting: dict[str, list[StatusListUpdate]] = {}
        for row in repo.queued_status_lists(session, account.id, list_ids):
            waiting.setdefault(row.list_id, []).append(row)
        carried = []
        for row in rows:
            if elsewhere.get(row.list_id, 0) > row.version:
                row.state, row.job_id = StatusListState.superseded, None
                continue
            newer = [w for w in waiting.get(row.list_id, []) if w.version > row.version]
            if newer:
                top = max(newer, key=lambda w: w.version)
                for w in [row, *newer]:
                    if w is not top:
                        w.state, w.job_id = StatusListState.superseded, None
                top.job_id, top.state = job.id, StatusListState.submitted if job.attempts else StatusListState.queued
                row = top
            carried.append(row)
        session.flush()
        payload = [{"listId": r.list_id, "hash": r.hash, "version": r.version} for r in carried]
        if payload != job.payload.get("lists"):
            log.info("status list job %s now carries %s", job.id,
                     ", ".join(f"{p['listId'][:10]}… v{p['version']}" for p in payload) or "nothing")
            job.payload = {**job.payload, "lists": payload}

    # -- 3. send -----------------------------------------------------------------------
    def _send_pending(self, sender: str, limit: int | None = None) -> list[int]:
        """Sign and broadcast the sender's pending jobs in order, at most ``limit``; returns the
        ids of those sent."""
        with transaction(self.sessions) as session:
            job_ids = [j.id for j in repo.pending_jobs(session, sender)]
        sent: list[int] = []
        for job_id in job_ids:
            if limit is not None and len(sent) >= limit:
                break
            with transaction(self.sessions) as session:
                job = session.get(ChainJob, job_id)
                if job.state != JobState.pending:
                    continue
                if self._waits_for(session, job) is not None:
                    continue  # an earlier key job of this account is not confirmed yet
                if job.attempts > 0 and self._adopt_existing_effect(session, job):
                    continue
                if job.kind == JobKind.revoke:
                    self._drop_already_revoked(session, job)
                    if not job.payload["hashes"]:
                        continue
                if job.kind == JobKind.status_list:
                    self._refresh_status_lists(session, job)
                    if not job.payload["lists"]:
                        self._superseded(job)
                        continue
                try:
                    self._sign(session, job)
                except ContractRevert as exc:
                    # estimate_gas says it would revert: maybe done already, else refused.
                    if exc.name in ALREADY_DONE and self._adopt_existing_effect(session, job):
                        continue
                    self._fail(session, job, str(exc))
                    continue
                # Lose the lease and we must not broadcast: another worker owns this account now.
                if not repo.acquire_lease(session, sender, self.holder, self.lease_ttl):
                    raise RuntimeError(f"lost the lease on {sender}; not sending")
            _crash_point("after_sign")
            self._broadcast(job)
            sent.append(job.id)
            _crash_point("after_send")
        return sent

    @staticmethod
    def _superseded(job: ChainJob) -> None:
        """A status-list job whose every list has a newer version in a later job: nothing left to send."""
        log.info("status list job %s superseded by later jobs: not sent", job.id)
        job.state, job.confirmed_at = JobState.confirmed, utcnow()
        job.block_number = job.block_hash = job.block_time = None
        job.last_error = "superseded: every list it carried has a newer version in a later job"

    @staticmethod
    def _waits_for(session: Session, job: ChainJob) -> ChainJob | None:
        """The key job ``job`` must wait for: one of the same account before it, not yet confirmed
        (nor failed), or, for a retirement, the key's own registration whatever its order."""
        if job.kind not in repo.KEY_JOBS or job.subject is None:
            return None
        for other in repo.key_jobs(session, job.subject):
            if other.id == job.id or other.state not in (JobState.pending, JobState.sent, JobState.mined):
                continue
            if other.id < job.id:
                return other
            if (job.kind == JobKind.retire_key and other.kind != JobKind.retire_key
                    and other.payload["publicKey"] == job.payload["publicKey"]):
                return other
        return None

    def _sign(self, session: Session, job: ChainJob) -> None:
        call, args = self._call_for(job)
        nonce = self.chain.pending_nonce(job.sender)
        value = job.payload["value"] if call == "transfer" else 0
        to = job.payload.get("to") if call == "transfer" else None
        tx = self.chain.build_tx(job.sender, nonce, call, args, value=value, to=to)
        raw, tx_hash = sign_tx(tx, self._key_for(session, job.sender))
        job.nonce, job.raw_tx, job.tx_hash = nonce, raw, tx_hash
        job.state, job.sent_at = JobState.sent, utcnow()
        job.attempts += 1
        repo.set_items_state(session, job.id, ItemState.submitted)

    def _broadcast(self, job: ChainJob) -> None:
        try:
            self.chain.send_raw(job.raw_tx)
        except ChainUnavailable:
            raise
        except ChainError as exc:
            # e.g. "nonce too low": reconcile decides next pass (mined, or sent again).
            log.warning("broadcast of job %s failed: %s", job.id, exc)

    def _key_for(self, session: Session, sender: str) -> bytes:
        if sender == self.owner:
            return self.owner_key
        account = repo.account_by_address(session, sender)
        return open_account_key(self.settings.secret("key_encryption_key"), account.address, account.sealed_key)

    @staticmethod
    def _call_for(job: ChainJob) -> tuple[str, list]:
        p = job.payload
        b32 = bytes.fromhex
        match job.kind:
            case JobKind.fund:
                return "transfer", []
            case JobKind.register_issuer:
                return "registerIssuer", [p["account"], p["did"], b32(p["publicKey"][2:])]
            case JobKind.add_key:
                return "addKey", [p["account"], b32(p["publicKey"][2:])]
            case JobKind.retire_key:
                return "retireKey", [p["account"], b32(p["publicKey"][2:]), p["validUntil"], p["compromised"]]
            case JobKind.anchor:
                return "anchorRoot", [b32(p["root"][2:]), p["leafCount"]]
            case JobKind.revoke:
                return "revokeBatch", [[b32(h[2:]) for h in p["hashes"]]]
            case JobKind.status_list:
                ids, hashes = [b32(e["listId"][2:]) for e in p["lists"]], [b32(e["hash"][2:]) for e in p["lists"]]
                if len(ids) == 1:
                    return "setStatusList", [ids[0], hashes[0]]
                return "setStatusLists", [ids, hashes]
        raise ValueError(f"unknown job kind {job.kind}")

    # -- idempotency ----------------------------------------------------------------------
    def _existing_effect(self, job: ChainJob) -> LogRef | None | bool:
        """Where the chain already shows this job's effect: its log, True if seen without one, else None."""
        p = job.payload
        match job.kind:
            case JobKind.anchor:
                record = self.chain.anchor_of(p["root"])
                if int(record.anchored_by, 16) == 0:
                    return None
                if record.anchored_by.lower() != job.sender.lower():
                    return None  # someone else's root: ours must still be sent (and will be refused)
                return self.chain.find_log("RootAnchored", {"root": p["root"]}) or True
            case JobKind.register_issuer:
                if self.chain.issuer_registered_at(p["account"]) == 0:
                    return None
                return self.chain.find_log("IssuerRegistered", {"account": p["account"]}) or True
            case JobKind.revoke:
                if not all(self.chain.revoked_at(job.sender, h) for h in p["hashes"]):
                    return None
                return self.chain.find_log("CredentialRevoked", {"issuer": job.sender, "credentialHash": p["hashes"][-1]}) or True
            case JobKind.add_key:
                keys = self.chain.issuer_keys(p["account"])
                if not any(k[0] == p["publicKey"] for k in keys):
                    return None
                return self.chain.find_log("KeyAdded", {"account": p["account"], "publicKey": p["publicKey"]}) or True
            case JobKind.retire_key:
                keys = self.chain.issuer_keys(p["account"])
                if not any(k[0] == p["publicKey"] and k[2] != 0 for k in keys):
                    return None
                return self.chain.find_log("KeyRetired", {"account": p["account"], "publicKey": p["publicKey"]}) or True
            case JobKind.status_list:
                if not p["lists"] or any(self.chain.status_list_of(job.sender, e["listId"])[0] != e["hash"]
                                         for e in p["lists"]):
                    return None
                return self.chain.find_log("StatusListSet", {"issuer": job.sender,
                                                             "listId": p["lists"][-1]["listId"]}) or True
            case JobKind.fund:
                # A transfer leaves no log; a funded account is the effect that matters.
                return True if self.chain.balance(p["to"]) >= p["value"] else None
        return None

    def _adopt_existing_effect(self, session: Session, job: ChainJob) -> bool:
        effect = self._existing_effect(job)
        if effect is None:
            return False
        head = self.chain.head()
        if isinstance(effect, LogRef):
            log.info("job %s (%s) already on chain in tx %s: adopting it", job.id, job.kind.value, effect.tx_hash)
            self._record_mined(session, job, effect.tx_hash, effect.block_number, effect.block_hash, None, head)
        else:
            job.block_number = job.block_number or head
            self._record_mined(session, job, job.tx_hash or "", job.block_number, job.block_hash or "", None, head)
        return True

    def _drop_already_revoked(self, session: Session, job: ChainJob) -> None:
        """Before a re-send, leave out hashes a lost earlier attempt did revoke (revokeBatch would refuse them)."""
        if job.attempts == 0:
            return
        remaining = [h for h in job.payload["hashes"] if not self.chain.revoked_at(job.sender, h)]
        if len(remaining) != len(job.payload["hashes"]):
            job.payload = {**job.payload, "hashes": remaining}
            if not remaining:
                self._adopt_existing_effect(session, job)


def build_worker(settings: RegistrySettings) -> Worker:
    """Wire the worker from settings: database, chain adapter, the operator's key."""
    from eth_account import Account

    from services.core.db import make_engine, make_sessionmaker
    from services.registry.chain import Web3Chain

    owner = Account.from_key(settings.secret("owner_private_key"))
    sessions = make_sessionmaker(make_engine(settings.database_url))
    chain = Web3Chain(settings.eth_rpc_url, settings.contract_address)
    return Worker(settings, sessions, chain, bytes(owner.key), owner.address)


def main() -> None:
    from services.core import logs
    from services.core.metrics import serve_worker_metrics
    from services.registry.settings import get_settings

    settings = get_settings()
    logs.configure("registry-worker", settings.log_level, settings.log_format)
    serve_worker_metrics(settings, "registry-worker", settings.worker_metrics_port)  # docs/operations.md
    worker = build_worker(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("anchoring worker %s started (interval %.1fs, max %d leaves, %d confirmations)",
             worker.holder, settings.anchor_interval, settings.anchor_max_leaves, settings.confirmations)
    worker.run(stop)
    log.info("anchoring worker stopped")


if __name__ == "__main__":
    main()

"""The issuer's W3C Bitstring Status Lists: indices for new credentials, bits, signed versions.

The rules of the format are services.core.statuslist's; this module keeps the lists
(docs/status-lists.md):

* **Lists.** Each issuer has lists of purpose ``revocation`` and ``suspension``, numbered
  from 1, at ``{MICROCRED_ISSUER_URL}/status-lists/{slug}/{purpose}/{n}``. A list hands out
  ``statuslist.MIN_ENTRIES`` indices (fewer only with MICROCRED_TEST_STATUS_LIST_ENTRIES, in
  tests); when it has none left, list n + 1 is opened. The URL is stored with the list, so
  its on-chain id (keccak256 of the URL) never moves under the credentials pointing to it.
* **Indices** (:func:`allocate`): every new credential gets, in the current list of each
  purpose, an index drawn with the operating system's CSPRNG among those not given out yet.
  ``(list, index)`` is unique in the database; an index a concurrent transaction took first
  is drawn again. A crowded list is searched exhaustively, so its last free indices are
  found too (still at random).
* **Changes** (:func:`set_status`): a revocation sets the entry's bit, a suspension sets and
  its lifting clears it; each counts a change on the list in the same transaction.
* **Versions** (:func:`publish_due`, run by the outbox relay under its lease): a list with
  changes is signed again (eddsa-rdfc-2022, the issuer's active key) at most once per
  MICROCRED_STATUS_LIST_INTERVAL, as one new version with every change since the last. The
  version is stored for ever, and an outbox message queues its hash at the registry, which
  sets the newest one on chain. A new list is published (empty) as version 1 at once.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import datetime, timedelta

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.core import dataintegrity, statuslist
from services.core.db import transaction, utcnow
from services.core.errors import Conflict, NotFound
from services.issuer import keys, statuslists_repository as repo
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials.document import xsd_datetime
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import Issuer, OutboxKind, StatusList, StatusListVersion
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer.statuslists")

REVOCATION, SUSPENSION = statuslist.PURPOSES
PURPOSES = statuslist.PURPOSES  # the order of a credential's entries: revocation, then suspension
MEDIA_TYPE = "application/vc+ld+json"
_NUMBER = re.compile(r"^[1-9][0-9]{0,8}$")
_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_rng = secrets.SystemRandom()
_ROUNDS = 4     # random draws before a crowded list is searched exhaustively
_ATTEMPTS = 5   # inserts tried when concurrent transactions keep taking the drawn indices


def list_url(issuer_url: str, slug: str, purpose: str, number: int) -> str:
    return f"{issuer_url.rstrip('/')}/status-lists/{slug}/{purpose}/{number}"


def version_url(url: str, list_hash: str) -> str:
    return f"{url}/versions/{list_hash}"


def capacity(settings: IssuerSettings) -> int:
    """Indices a new list hands out: MIN_ENTRIES, or fewer in tests (the bitstring keeps its size)."""
    test = settings.test_status_list_entries
    return min(test, statuslist.MIN_ENTRIES) if test > 0 else statuslist.MIN_ENTRIES


def max_age(settings: IssuerSettings) -> int:
    """Seconds a served newest version may be cached: the publishing interval, rounded up."""
    return max(1, int(-(-settings.status_list_interval // 1)))


# -- indices for new credentials -----------------------------------------------------------------
def allocate(session: Session, settings: IssuerSettings, issuer: Issuer,
             credential_ids: list[str], open_lists: list | None = None) -> dict[str, list[dict]]:
    """Each credential's ``credentialStatus``: a new random index in the current list of each purpose.

    The entries are written (unique per list) in the caller's transaction; a list that fills
    up is marked full and the next one opened. ``open_lists``: the issuer's open lists as a
    single issue has them cached (``credentials.context``), instead of reading them; when the
    try on them fails (an index taken, or the list filled meanwhile) the list is emptied, so
    that the cache reads them again.
    """
    entries: dict[str, list[dict]] = {cid: [] for cid in credential_ids}
    if len(credential_ids) == 1:
        if _first_try(session, settings, issuer, credential_ids[0], entries, open_lists):
            return entries
        if open_lists is not None:
            del open_lists[:]
    for purpose in PURPOSES:
        for cid, status_list, index in _allocate(session, settings, issuer, purpose, list(credential_ids)):
            entries[cid].append(statuslist.entry(status_list.url, purpose, index))
    return entries


def _first_try(session: Session, settings: IssuerSettings, issuer: Issuer, credential_id: str,
               entries: dict[str, list[dict]], open_lists: list | None = None) -> bool:
    """One credential, the common case: one random draw per list, both written in one statement.

    False (nothing written) if a draw was taken already: the general path then draws again
    among the indices known to be free. One query and one insert instead of three of each
    (the insert alone with ``open_lists`` given: a list is marked full only once every index
    is taken, so a draw in a cached list that filled since fails here like a taken index).
    """
    current: dict = {}
    for status_list in open_lists if open_lists is not None else repo.open_status_lists(session, issuer.id):
        current.setdefault(status_list.purpose, status_list)
    if set(current) != set(PURPOSES):
        return False
    picks = [(current[purpose], _draw(current[purpose].capacity, 1)[0]) for purpose in PURPOSES]
    rows = [(sl.id, index, credential_id) for sl, index in picks]
    if session.get_bind().dialect.name == "sqlite":
        # No savepoint: SQLite undoes the failed statement alone and the transaction goes on, and it
        # has one writer at a time, so no two can wait on each other's entries. An executemany keeps
        # the rows before the one that failed: the new credential's entries are deleted again.
        try:
            repo.insert_status_entry_rows(session, rows)
        except IntegrityError:
            repo.delete_status_entries_of(session, credential_id)
            return False
    else:
        # A savepoint, not ON CONFLICT DO NOTHING: a failed try must give back (on PostgreSQL,
        # unlock) what it wrote at once, or two writers retrying in different list orders could
        # deadlock.
        try:
            with session.begin_nested():
                repo.insert_status_entry_rows(session, rows)
        except IntegrityError:
            return False
    entries[credential_id] = [statuslist.entry(sl.url, sl.purpose, index) for sl, index in picks]
    return True


def probe_status(settings: IssuerSettings, issuer: Issuer) -> list[dict]:
    """Entries shaped like real ones, for a credential that is only canonicalised (nothing is allocated)."""
    return [statuslist.entry(list_url(settings.issuer_url, issuer.slug, purpose, 1), purpose, capacity(settings) - 1)
            for purpose in PURPOSES]


def _allocate(session: Session, settings: IssuerSettings, issuer: Issuer, purpose: str,
              credential_ids: list[str]) -> list[tuple[str, StatusList, int]]:
    placed: list[tuple[str, StatusList, int]] = []
    remaining = credential_ids
    while remaining:
        current = _current_list(session, settings, issuer, purpose)
        indices = _place(session, current, remaining)
        placed.extend((cid, current, index) for cid, index in zip(remaining, indices))
        remaining = remaining[len(indices):]
        if remaining:
            repo.mark_status_list_full(session, current)
            log.info("issuer %s: %s list %d is full; opening list %d", issuer.id, purpose, current.number,
                     current.number + 1)
    return placed


def _current_list(session: Session, settings: IssuerSettings, issuer: Issuer, purpose: str) -> StatusList:
    """The newest list of that purpose, or a new one when there is none or it is full."""
    for _ in range(_ATTEMPTS):
        newest = repo.newest_status_list(session, issuer.id, purpose)
        if newest is not None and not newest.full:
            return newest
        number = newest.number + 1 if newest is not None else 1
        url = list_url(settings.issuer_url, issuer.slug, purpose, number)
        row = StatusList(issuer_id=issuer.id, purpose=purpose, number=number, url=url,
                         list_id="0x" + statuslist.list_id(url).hex(), capacity=capacity(settings), full=False,
                         changes=1, published_changes=0, version=0, published_at=None, created_at=utcnow())
        if repo.add_status_list(session, row):
            return row
    raise Conflict("status lists are being opened concurrently; retry", code="status_list_busy")


def _place(session: Session, status_list: StatusList, credential_ids: list[str]) -> list[int]:
    """Indices for as many of ``credential_ids`` (in order) as the list still has room for, written."""
    for _ in range(_ATTEMPTS):
        picks = _pick(session, status_list, len(credential_ids))
        try:
            with session.begin_nested():
                repo.insert_status_entries(session, status_list.id, list(zip(credential_ids, picks)))
            return picks
        except IntegrityError:
            continue  # a concurrent transaction took one of them: draw again
    raise Conflict("status list indices are being taken concurrently; retry", code="status_list_busy")


def _pick(session: Session, status_list: StatusList, want: int) -> list[int]:
    """Up to ``want`` distinct random indices the list has not given out, in random order."""
    size = status_list.capacity
    chosen: set[int] = set()
    for _ in range(_ROUNDS):
        need = want - len(chosen)
        if need <= 0:
            break
        candidates = set(_draw(size, 2 * need + 2)) - chosen
        taken = repo.taken_indices(session, status_list.id, candidates)
        free = _shuffled(sorted(candidates - taken))
        chosen.update(free[:need])
        if 2 * len(taken) > len(candidates):
            break  # crowded: random draws would mostly miss
    if len(chosen) < want:
        free = sorted(set(range(size)) - repo.all_taken_indices(session, status_list.id) - chosen)
        chosen.update(_rng.sample(free, min(len(free), want - len(chosen))))
    return _shuffled(sorted(chosen))


def _draw(size: int, count: int) -> list[int]:
    """``count`` uniform random indices below ``size`` from one read of the OS CSPRNG (rejection
    sampling on masked bits: no modulo bias). ``SystemRandom.randrange`` reads it once per draw."""
    bits = max(1, (size - 1).bit_length())
    width, mask = (bits + 7) // 8, (1 << bits) - 1
    out: list[int] = []
    while len(out) < count:
        block = os.urandom(width * 2 * (count - len(out)))  # at most half is rejected on average
        for start in range(0, len(block), width):
            value = int.from_bytes(block[start:start + width], "big") & mask
            if value < size:
                out.append(value)
                if len(out) == count:
                    break
    return out


def _shuffled(items: list[int]) -> list[int]:
    """``items`` in a uniformly random order: sorted by 64-bit keys from one read of the OS CSPRNG."""
    keys = os.urandom(8 * len(items))
    return [item for _, item in sorted(zip((keys[i:i + 8] for i in range(0, len(keys), 8)), items))]


# -- changes ------------------------------------------------------------------------------------------
def has_entries(session: Session, credential_id: str) -> bool:
    """False for a credential issued before status lists (its revocation is a per-hash one on chain)."""
    return bool(repo.status_entries_of(session, credential_id))


def set_status(session: Session, credential_id: str, purpose: str, on: bool) -> bool | None:
    """Set (or clear) the credential's bit in its list of ``purpose``; the change is counted on the list.

    True if the bit changed, False if it already was so, None if the credential has no such entry.
    """
    for entry, status_list in repo.status_entries_of(session, credential_id):
        if status_list.purpose == purpose:
            return repo.set_status_bit(session, entry.id, status_list.id, on)
    return None


def resign_all(session: Session, issuer_id: str) -> None:
    """Have every list of the issuer signed again (a new signing key)."""
    repo.count_issuer_status_list_changes(session, issuer_id)


# -- publishing (the outbox relay, under its lease) ----------------------------------------------------------
def publish_due(sessions: sessionmaker[Session], settings: IssuerSettings, now: datetime | None = None,
                limit: int = 200) -> list[StatusListVersion]:
    """Sign and store a new version of every list that changed and whose last version is old enough.

    One transaction per list: the version, the list's new state and the outbox message that
    queues its hash at the registry commit together.
    """
    now = now or utcnow()
    with transaction(sessions) as session:
        due = repo.status_lists_due(session, now - timedelta(seconds=settings.status_list_interval), limit)
    published = []
    for status_list_id in due:
        try:
            with transaction(sessions) as session:
                version = publish(session, settings, status_list_id, utcnow())
        except Exception:  # this list stays due and is tried again; the others go on
            log.exception("status list %d could not be published", status_list_id)
            continue
        if version is not None:
            published.append(version)
    return published


def publish(session: Session, settings: IssuerSettings, status_list_id: int, now: datetime) -> StatusListVersion | None:
    """A new signed version of the list with every change so far; None if nothing changed or another
    publisher stored this version first."""
    # The change count is read before the bits: a change committed in between is in the bits
    # but not in the count, and is published again next time; none is ever left out.
    status_list = session.scalar(select(StatusList).where(StatusList.id == status_list_id)
                                 .execution_options(populate_existing=True))
    if status_list is None or status_list.changes <= status_list.published_changes:
        return None
    changes = status_list.changes
    issuer = issuers_repo.issuer(session, status_list.issuer_id)
    key = issuers_repo.active_signing_key(session, issuer.id)
    bits = statuslist.empty(status_list.capacity)
    statuslist.set_bits(bits, on=repo.set_indices(session, status_list.id))
    created = xsd_datetime(now)
    unsigned = statuslist.list_credential(list_url=status_list.url, issuer=issuer.did, purpose=status_list.purpose,
                                          bits=bits, valid_from=created)
    seed = keys.open_seed(settings.secret("key_encryption_key"), issuer.id, key.public_key, key.sealed_private_key)
    signed = dataintegrity.sign_and_hash(unsigned, Ed25519PrivateKey.from_private_bytes(seed),
                                         keys.verification_method_id(issuer.did, key.multikey), created)
    list_hash = "0x" + signed.credential_hash.hex()
    version = StatusListVersion(status_list_id=status_list.id, version=status_list.version + 1, hash=list_hash,
                                document=orjson.dumps(signed.document).decode(), created_at=now)
    if not repo.record_status_list_version(session, status_list, version, changes):
        return None
    outbox.add_outbox(session, issuer.id, OutboxKind.status_list,
                    {"list_id": status_list.list_id, "hash": list_hash, "version": version.version,
                     "url": status_list.url})
    log.info("issuer %s: %s list %d version %d (%s)", issuer.id, status_list.purpose, status_list.number,
             version.version, list_hash)
    return version


# -- serving ------------------------------------------------------------------------------------------------
def served_version(session: Session, slug: str, purpose: str, number: str,
                   list_hash: str | None = None) -> StatusListVersion:
    """The newest version of a list, or the one with ``list_hash``; NotFound for anything unknown."""
    if purpose not in PURPOSES or not _NUMBER.match(number) or (list_hash is not None and not _HASH.match(list_hash)):
        raise NotFound("no such status list")
    status_list = repo.status_list_by_path(session, slug, purpose, int(number))
    if status_list is None:
        raise NotFound("no such status list")
    if list_hash is None:
        version = repo.newest_status_list_version(session, status_list.id)
    else:
        version = repo.status_list_version_by_hash(session, status_list.id, list_hash)
    if version is None:
        raise NotFound("no such status list version" if list_hash else "this status list has no version yet")
    return version

"""What issuing one credential reads about its issuer, cached per process (docs/issuer.md, "Single issuance").

Every single issue used to read the same rows again: the active signing key, the achievement
and whether it is a pathway's component, the endpoints that want ``credential.issued``, the
open status lists — five statements of thirteen. They are kept here per issuer under the
issuer's ``config_version``, which the request's API-key query reads with the issuer row
anyway. Database triggers (migration 0018) bump that number in the transaction of every
insert, update or delete of the key, achievement, pathway-component and endpoint rows,
whatever code writes them, so the first request to read the new number — in any process —
reads them afresh: a rotation, an achievement turned pathway, a new pathway or endpoint take
effect at once.

The open status lists are the exception: issuances open and fill them concurrently, so they
bump nothing (the bump's row lock deadlocked concurrent issuers on PostgreSQL). A cached list
is checked by the insert of the entries instead: a list is marked full only once every index
is taken, so a draw in a list that filled since fails like a taken index, and
``statuslists.allocate`` then empties the cached copy, which is read again next time (as it
is while the issuer has none).

Only database facts are kept (plain values, never ORM objects shared across sessions), and
never what depends on settings: the seed is opened through ``keys.open_seed`` (cached by the
sealed value and the key-encryption key), documents are built per request. A request whose
issuer row is older than the cached entry (a slow snapshot) reads afresh and stores nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from services.issuer.achievements import service as achievements
from services.issuer.models import Achievement, Issuer
from services.issuer.pathways import repository as pathways_repo
from services.issuer.webhooks import events, repository as webhooks_repo
from services.issuer import statuslists_repository as statuslists_repo

MAX_ISSUERS = 1024       # entries kept (one per issuer); the oldest goes first
MAX_ACHIEVEMENTS = 256   # achievements kept per issuer entry

_ACHIEVEMENT_COLUMNS = tuple(c.key for c in Achievement.__mapper__.column_attrs)


class AchievementFacts:
    """An achievement's columns as read (read-only): what ``builder`` and the pathway check read."""

    __slots__ = _ACHIEVEMENT_COLUMNS + ("component",)

    def __init__(self, row: Achievement, component: bool) -> None:
        for name in _ACHIEVEMENT_COLUMNS:
            object.__setattr__(self, name, getattr(row, name))
        object.__setattr__(self, "component", component)  # an element of a pathway: issuing queues an award job

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("cached achievement facts are read-only")


@dataclass(frozen=True)
class KeyFacts:
    """The active signing key as stored (sealed)."""

    id: int
    public_key: str
    multikey: str
    sealed_private_key: str


@dataclass(frozen=True)
class ListFacts:
    """An open status list: what allocating an index in it needs."""

    id: int
    purpose: str
    url: str
    capacity: int


@dataclass
class Facts:
    """One issuer's entry at one ``config_version``; each part is read on first use."""

    version: int
    key: KeyFacts | None = None
    achievements: dict[str, AchievementFacts] = field(default_factory=dict)
    issued_endpoints: list[str] | None = None
    open_lists: list[ListFacts] | None = None


_entries: dict[str, Facts] = {}
_lock = threading.Lock()


def facts(issuer: Issuer) -> Facts:
    """The entry for the issuer at the version its row (read in this transaction) carries."""
    version = issuer.config_version
    entry = _entries.get(issuer.id)
    if entry is not None and entry.version == version:
        return entry
    fresh = Facts(version)
    if entry is not None and entry.version > version:
        return fresh  # this transaction's row is older than what is cached: use, keep nothing
    with _lock:
        current = _entries.get(issuer.id)
        if current is not None and current.version >= version:
            return current if current.version == version else fresh
        _entries.pop(issuer.id, None)
        while len(_entries) >= MAX_ISSUERS:
            _entries.pop(next(iter(_entries)))
        _entries[issuer.id] = fresh
    return fresh


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _entries.clear()


def achievement(session: Session, issuer: Issuer, entry: Facts, achievement_id: str) -> AchievementFacts:
    """The caller's own achievement, if it may be issued by hand (404, 409 for a pathway, as
    ``achievements.issuable``); a refusal is never cached."""
    found = entry.achievements.get(achievement_id)
    if found is None:
        row = achievements.issuable(session, issuer, achievement_id)
        found = AchievementFacts(row, pathways_repo.is_component(session, issuer.id, [row.id]))
        if len(entry.achievements) < MAX_ACHIEVEMENTS:
            entry.achievements[achievement_id] = found
    return found


def active_key(session: Session, issuer: Issuer, entry: Facts) -> KeyFacts:
    if entry.key is None:
        from services.issuer.credentials.service import active_key as load

        key = load(session, issuer)
        entry.key = KeyFacts(key.id, key.public_key, key.multikey, key.sealed_private_key)
    return entry.key


def issued_endpoints(session: Session, issuer: Issuer, entry: Facts) -> list[str]:
    """The issuer's endpoints that want ``credential.issued``."""
    if entry.issued_endpoints is None:
        entry.issued_endpoints = webhooks_repo.subscribed(session, issuer.id, events.CREDENTIAL_ISSUED)
    return entry.issued_endpoints


def open_lists(session: Session, issuer: Issuer, entry: Facts) -> list[ListFacts]:
    """The issuer's open status lists, newest first (as ``statuslists_repository.open_status_lists``)."""
    if not entry.open_lists:  # never read, emptied after a failed try, or none open yet
        entry.open_lists = [ListFacts(sl.id, sl.purpose, sl.url, sl.capacity)
                            for sl in statuslists_repo.open_status_lists(session, issuer.id)]
    return entry.open_lists


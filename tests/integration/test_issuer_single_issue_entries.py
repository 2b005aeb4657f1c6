"""A single issue's status entries (``statuslists._first_try``): a taken index leaves nothing behind
and the transaction goes on, on SQLite (no savepoint: what the executemany wrote is deleted) and
PostgreSQL (a savepoint)."""

from __future__ import annotations

from sqlalchemy import func, select

from services.core.db import transaction
from services.issuer import statuslists
from services.issuer.models import Issuer, StatusEntry
from tests.integration.issuer_support import create_achievement, create_issuer, issue


def test_a_taken_index_writes_nothing_and_the_next_draw_is_kept(client, monkeypatch):
    key = create_issuer(client)["api_key"]
    issue(client, key, create_achievement(client, key)["id"])  # opens the lists
    with client.sessions() as s:
        issuer = s.scalar(select(Issuer))
        taken = {sl_id: index for sl_id, index in s.execute(select(StatusEntry.status_list_id, StatusEntry.index))}
    # The revocation draw (written first: rows go in list order) is free, the suspension draw is the
    # index already given out: the first row must not outlive the failure of the second.
    assert len(taken) == 2
    draws = iter([[(taken[min(taken)] + 1) % 16], [taken[max(taken)]]] + [[n] for n in range(200, 400)])
    monkeypatch.setattr(statuslists, "_draw", lambda size, count: next(draws)[:count])
    with transaction(client.sessions) as session:
        entries: dict = {"c-new": []}
        assert not statuslists._first_try(session, client.settings, issuer, "c-new", entries)  # noqa: SLF001
        assert session.scalar(select(func.count()).select_from(StatusEntry)
                              .where(StatusEntry.credential_id == "c-new")) == 0
        # the transaction is usable: the general path places it, once per purpose
        placed = statuslists.allocate(session, client.settings, issuer, ["c-new"])["c-new"]
    assert sorted(e["statusPurpose"] for e in placed) == ["revocation", "suspension"]
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(StatusEntry).where(StatusEntry.credential_id == "c-new")) == 2

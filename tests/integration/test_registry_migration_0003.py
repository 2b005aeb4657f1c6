"""Migration 0003_key_gating on a database with registry rows from before (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import text

from services.core.db import make_engine
from services.ops.migrate import downgrade, upgrade


def test_key_jobs_from_before_get_their_subject_and_old_failures_count_as_acknowledged(database_url):
    downgrade(database_url, "0002_issuer")
    engine = make_engine(database_url)
    account = "0x" + "12" * 20
    rows = [
        (1, "fund", {"to": account, "value": 1}, "confirmed"),
        (2, "register_issuer", {"account": account, "did": "did:web:x", "publicKey": "0x" + "ab" * 32}, "confirmed"),
        (3, "retire_key", {"account": account, "publicKey": "0x" + "ab" * 32, "validUntil": 5, "compromised": False},
         "failed"),
        (4, "anchor", {"root": "0x" + "cd" * 32, "leafCount": 1}, "confirmed"),
    ]
    with engine.begin() as conn:
        for job_id, kind, payload, state in rows:
            conn.execute(text("INSERT INTO registry_jobs (id, sender, kind, payload, state, attempts, created_at) "
                              "VALUES (:id, :sender, :kind, :payload, :state, 1, :created)"),
                         {"id": job_id, "sender": account if kind == "anchor" else "0x" + "99" * 20, "kind": kind,
                          "payload": json.dumps(payload), "state": state, "created": "2026-11-30 12:00:00+00:00"})
    engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT id, subject, failed_at IS NOT NULL, acknowledged_at IS NOT NULL "
                                "FROM registry_jobs ORDER BY id")).all()
        columns = conn.execute(text("SELECT public_key FROM registry_anchors")).all()
    engine.dispose()
    assert [tuple(r) for r in got] == [(1, account, False, False), (2, account, False, False),
                                       (3, account, True, True), (4, None, False, False)]
    assert columns == []

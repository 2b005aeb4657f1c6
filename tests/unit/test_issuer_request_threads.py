"""An issue's request runs one thread hop (the API key, the body, the issue and the commit together),
and still commits before it answers: what issuer/deps.py's async session and dependencies promise (docs/issuer.md,
"Single issuance")."""

from __future__ import annotations

import asyncio

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event, func, select
from sqlalchemy.orm import Session

from services.issuer.app import create_app
from services.issuer.models import Credential
from services.issuer.settings import IssuerSettings
from services.ops.migrate import upgrade

ADMIN = "t" * 32


@pytest.fixture
def issuing(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    settings = IssuerSettings(data_dir=tmp_path, database_url=url, admin_token=ADMIN, run_batches=False,
                              registry_url="http://127.0.0.1:9", registry_create_timeout=0.2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        issuer = client.post("/api/v1/issuers", headers={"Authorization": f"Bearer {ADMIN}"}, json={
            "name": "Order", "slug": "order", "url": "https://o.example", "email": "a@o.example"}).json()
        auth = {"Authorization": f"Bearer {issuer['api_key']}"}
        achievement = client.post("/api/v1/achievements", headers=auth, json={
            "name": "Critical Thinking", "description": "x", "criteria": {"narrative": "Passed."}}).json()

        def issue(email: str):
            return client.post("/api/v1/credentials", headers=auth, json={
                "achievement_id": achievement["id"], "recipient": {"name": "Ada", "email": email}})

        yield client, issue


def _credentials(client) -> int:
    with client.app.state.sessions() as s:
        return s.scalar(select(func.count()).select_from(Credential))


def test_an_issue_takes_one_thread_hop(issuing, monkeypatch):
    """A sync dependency (the API key's was one), a sync generator's opening, a response-model check
    of a sync route or a sync background task each cost one more: this fails when one comes back."""
    client, issue = issuing
    assert issue("warm@example.org").status_code == 201
    calls: list[str] = []
    real, real_executor = anyio.to_thread.run_sync, asyncio.BaseEventLoop.run_in_executor

    async def counting(func, *args, **kwargs):
        calls.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    def counting_executor(loop, executor, func, *args):
        calls.append(f"executor {getattr(executor, '_thread_name_prefix', executor)}")
        return real_executor(loop, executor, func, *args)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", counting_executor)
    r = issue("ada@example.org")
    monkeypatch.setattr(anyio.to_thread, "run_sync", real)
    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", real_executor)
    assert r.status_code == 201, r.text
    # the key, the body, the issue and its commit, in one thread: on SQLite, the process's issue writer
    assert calls == ["executor issue-writer"], calls
    assert r.headers["content-type"] == "application/json" and r.json()["credential"]["id"] == r.json()["url"]


def test_a_commit_that_fails_is_a_500_and_stores_nothing(issuing):
    client, issue = issuing
    before = _credentials(client)

    def refuse(_session):
        raise RuntimeError("the database refused the commit")

    sa_event.listen(Session, "before_commit", refuse)
    try:
        r = issue("lost@example.org")
    finally:
        sa_event.remove(Session, "before_commit", refuse)
    assert r.status_code == 500, r.text
    assert _credentials(client) == before
    assert issue("next@example.org").status_code == 201  # the connection went back to the pool clean
    assert _credentials(client) == before + 1


"""/metrics of the registry and the issuer on a real database (SQLite and PostgreSQL): the queue
gauges follow the work that is queued, gas is summed per issuer, issue-to-anchor is observed."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from services.core.db import make_engine, make_sessionmaker, utcnow
from services.issuer.models import OutboxKind, OutboxMessage, OutboxState
from services.registry import metrics as registry_metrics
from services.registry.app import create_app as registry_app
from services.registry.models import ChainAccount, ChainJob, JobKind, JobState
from services.registry.settings import RegistrySettings
from tests.integration.issuer_support import (auth, anchor_everything, create_achievement, create_issuer,
                                              issue, issuer_client)

TOKEN = "metrics-token-for-tests-0123456789"
SERVICE = "service-token-for-tests-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def at(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def _h(i: int) -> str:
    return "0x" + f"{i:064x}"


@pytest.fixture
def registry(database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(registry_metrics, "GAS_CACHE_SECONDS", 0.0)  # every scrape sums again
    settings = RegistrySettings(data_dir=tmp_path, database_url=database_url, service_token=SERVICE,
                                admin_token="admin-token-for-tests-0123", key_encryption_key="kek-for-tests-0123456789",
                                contract_address="", eth_rpc_url="http://127.0.0.1:1", metrics_token=TOKEN)
    with TestClient(registry_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {SERVICE}"
        client.sessions = make_sessionmaker(make_engine(database_url))
        yield client


def test_registry_queue_gauges_follow_the_queued_work(registry):
    empty = scrape(registry)
    assert at(empty, "microcred_metrics_db_up") == 1
    assert at(empty, "microcred_registry_queue_items", queue="anchors", state="queued") == 0
    assert at(empty, "microcred_registry_queue_oldest_age_seconds", queue="anchors", state="queued") == 0

    key = "0x" + os.urandom(32).hex()
    account = registry.post("/api/v1/issuers", json={"issuer_id": "iss_a", "did": "did:web:example.org:iss_a",
                                                     "public_key": key}).json()
    r = registry.post("/api/v1/anchors", json={"issuer_id": "iss_a", "hashes": [_h(i) for i in range(1, 6)]})
    assert r.status_code in (200, 202), r.text
    r = registry.post("/api/v1/revocations", json={"issuer_id": "iss_a", "hashes": [_h(1), _h(2)]})
    assert r.status_code in (200, 202), r.text
    list_id = "0x" + "11" * 32
    for version in (1, 2):  # version 1 is superseded by 2: only one list version waits
        r = registry.post("/api/v1/status-lists", json={"issuer_id": "iss_a", "list_id": list_id,
                                                        "hash": _h(100 + version), "version": version})
        assert r.status_code in (200, 202), r.text
    with registry.sessions.begin() as s:
        jobs = s.scalars(select(ChainJob).order_by(ChainJob.id)).all()
        fund = next(j for j in jobs if j.kind == JobKind.fund)
        fund.state, fund.gas_used = JobState.mined, 21_000  # the owner's: the operator's gas
        s.add(ChainJob(sender=account["address"], kind=JobKind.anchor, payload={}, state=JobState.confirmed,
                       gas_used=60_000, root=_h(999)))
        s.add(ChainJob(sender=account["address"], kind=JobKind.revoke, payload={}, state=JobState.failed,
                       gas_used=30_000, last_error="reverted", failed_at=utcnow()))
        s.add(ChainJob(sender=account["address"], kind=JobKind.anchor, payload={}, state=JobState.failed,
                       failed_at=utcnow(), acknowledged_at=utcnow()))
        # The oldest queued anchor waited a minute.
        from services.registry.models import Anchor

        s.execute(Anchor.__table__.update().where(Anchor.hash == _h(1))
                  .values(created_at=utcnow() - timedelta(seconds=60)))

    found = scrape(registry)
    assert at(found, "microcred_registry_queue_items", queue="anchors", state="queued") == 5
    assert at(found, "microcred_registry_queue_items", queue="anchors", state="submitted") == 0
    assert at(found, "microcred_registry_queue_oldest_age_seconds", queue="anchors", state="queued") >= 60
    assert at(found, "microcred_registry_queue_items", queue="revocations", state="queued") == 2
    assert at(found, "microcred_registry_queue_items", queue="status_lists", state="queued") == 1
    assert at(found, "microcred_registry_chain_jobs", kind="register_issuer", state="pending") == 1
    assert at(found, "microcred_registry_chain_jobs", kind="fund", state="mined") == 1
    assert at(found, "microcred_registry_chain_jobs_failed_unacknowledged", kind="revoke") == 1
    assert at(found, "microcred_registry_chain_jobs_failed_unacknowledged", kind="anchor") == 0  # acknowledged
    assert at(found, "microcred_registry_gas_used_total", issuer="iss_a") == 90_000
    assert at(found, "microcred_registry_gas_used_total", issuer=registry_metrics.OPERATOR) == 21_000
    assert at(found, "microcred_registry_accounts", state="registering") == 1

    # The anchors go into a transaction: queued → submitted, and the gauges follow.
    with registry.sessions.begin() as s:
        from services.registry.models import Anchor, ItemState

        s.execute(Anchor.__table__.update().values(state=ItemState.submitted.value))
    later = scrape(registry)
    assert at(later, "microcred_registry_queue_items", queue="anchors", state="queued") == 0
    assert at(later, "microcred_registry_queue_items", queue="anchors", state="submitted") == 5
    assert at(later, "microcred_registry_queue_oldest_age_seconds", queue="anchors", state="queued") == 0
    with registry.sessions() as s:
        assert s.scalar(select(ChainAccount.issuer_id)) == "iss_a"


def test_issuer_queue_gauges_follow_issuance_and_the_relay_observes_issue_to_anchor(database_url, tmp_path):
    from services.issuer.metrics import ISSUE_TO_ANCHOR

    def anchored_so_far() -> float:
        return next(s.value for m in ISSUE_TO_ANCHOR.collect() for s in m.samples if s.name.endswith("_count"))

    with issuer_client(database_url, tmp_path, run_batches=False, metrics_token=TOKEN) as client:
        empty = scrape(client)
        assert at(empty, "microcred_metrics_db_up") == 1
        assert at(empty, "microcred_issuer_outbox_relay_up") == 0
        issuer = create_issuer(client)
        key = issuer["api_key"]
        achievement = create_achievement(client, key)
        for i in range(3):
            issue(client, key, achievement["id"], email=f"learner{i}@example.org")
        r = client.post("/api/v1/credentials/batch", headers=auth(key),
                        json={"achievement_id": achievement["id"],
                              "recipients": [{"name": f"L {i}", "email": f"l{i}@example.org"} for i in range(7)]})
        assert r.status_code in (200, 201, 202), r.text
        with client.sessions.begin() as s:
            s.add(OutboxMessage(issuer_id=issuer["id"], kind=OutboxKind.revoke, payload={"hashes": []},
                                state=OutboxState.failed, last_error="refused"))

        found = scrape(client)
        assert at(found, "microcred_issuer_credentials_unanchored", anchor_state="pending") == 3
        assert at(found, "microcred_issuer_outbox_messages", kind="anchor", state="pending") == 3
        assert at(found, "microcred_issuer_outbox_messages", kind="revoke", state="failed") == 1
        assert at(found, "microcred_issuer_outbox_oldest_pending_age_seconds") > 0
        assert at(found, "microcred_issuer_batches", state="queued") == 1
        assert at(found, "microcred_issuer_batch_rows_pending") == 7
        assert at(found, "microcred_issuer_status_lists_unpublished") >= 1  # new lists, not yet signed

        before = anchored_so_far()
        anchor_everything(client)  # the relay: delivers, the fake registry confirms, proofs attached
        after = scrape(client)
        assert at(after, "microcred_issuer_credentials_unanchored", anchor_state="pending") == 0
        assert at(after, "microcred_issuer_credentials_unanchored", anchor_state="queued") == 0
        assert at(after, "microcred_issuer_outbox_messages", kind="anchor", state="pending") == 0
        assert at(after, "microcred_issuer_credentials_unanchored_oldest_age_seconds", anchor_state="pending") == 0
        assert at(after, "microcred_issuer_outbox_relay_up") == 1  # the relay's lease is held
        assert at(after, "microcred_issuer_status_lists_unpublished") == 0  # the relay published them
        assert anchored_so_far() == before + 3

"""Webhooks over the issuer API and its deliverer, to a real HTTP receiver on loopback (docs/webhooks.md).

On SQLite and PostgreSQL. The deliverer is driven by hand (``_drain``) with a retry schedule in
fractions of a second; the receiver goes down, answers 500, and comes back.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from standardwebhooks import Webhook, WebhookVerificationError

from services.core import secretbox, urlsafety
from services.issuer.models import Lease, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookState
from services.issuer.pathways.runner import AwardRunner
from services.core.db import utcnow
from services.issuer.webhooks import deliverer as deliverer_module, repository as webhooks_repo
from services.issuer.webhooks.deliverer import Deliverer
from services.issuer.webhooks.service import associated_data
from tests.integration.issuer_support import (ADMIN, anchor_everything, auth, count, create_achievement, create_issuer, issue,
                                              issuer_client)
from tests.support.webhook_receiver import Receiver, TricklingReceiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
FAST = dict(webhook_retry_base=0.2, webhook_retry_max=0.8, webhook_retry_for=30.0, webhook_interval=0.05,
            run_awards=False, metrics_token=METRICS_TOKEN)
ALL = ["credential.issued", "credential.anchored", "credential.revoked", "credential.suspended",
       "credential.unsuspended", "pathway.awarded", "endorsement.added", "endorsement.revoked"]


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, **FAST) as c:
        yield c


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _partner_example_resolves(request, monkeypatch):
    """``hooks.partner.example`` resolves to loopback at registration (the delivery test then changes it)."""
    real = urlsafety._addresses_blocking
    monkeypatch.setattr(urlsafety, "_addresses_blocking",
                        lambda host, port: ["127.0.0.1"] if host == "hooks.partner.example" else real(host, port))


@pytest.fixture
def deliverer(client):
    d = Deliverer(client.settings, client.sessions, holder="test-deliverer")
    yield d
    d.close()


def doc_verify():
    """The stdlib snippet of docs/webhooks.md, exactly as printed there."""
    text = DOC.read_text()
    block = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(block, str(DOC), "exec"), scope)  # noqa: S102 - our own documentation
    return scope["verify"]


def _register(client, key, url, events=ALL):
    r = client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()


def _drain(deliverer, until, timeout=20.0, what="deliveries"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deliverer.tick()
        if until():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _deliveries(client, key, webhook_id, **params) -> list[dict]:
    r = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params=params, headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _metrics(client) -> str:
    r = client.get("/metrics", headers=auth(METRICS_TOKEN))
    assert r.status_code == 200, r.text
    return r.text


def _pending(client) -> int:
    with client.sessions() as s:
        return s.scalar(select(func.count()).where(WebhookDelivery.state == WebhookState.pending))


def test_every_change_is_signed_and_verifies_as_a_partner_would(client, receiver, deliverer):
    issuer = create_issuer(client)
    key = issuer["api_key"]
    hook = _register(client, key, receiver.url)
    assert hook["secret"].startswith("whsec_") and set(hook["events"]) == set(ALL)
    achievement = create_achievement(client, key)
    c = issue(client, key, achievement["id"])
    anchor_everything(client)
    for path, body in (("suspend", {"reason": "under review"}), ("unsuspend", None),
                       ("revoke", {"reason": "issued in error"})):
        r = client.post(f"/api/v1/credentials/{c['id']}/{path}", json=body, headers=auth(key))
        assert r.status_code == 200, r.text
    types = ["credential.issued", "credential.anchored", "credential.suspended", "credential.unsuspended",
             "credential.revoked"]
    _drain(deliverer, lambda: len(receiver.events()) == len(types))
    assert [e["type"] for e in receiver.events()] == types  # one credential: in order
    verify = doc_verify()
    for got in receiver.received:
        event = Webhook(hook["secret"]).verify(got.body, got.headers)  # the standardwebhooks package
        assert verify(hook["secret"], got.headers, got.body) == event  # our documented snippet
        assert got.headers["webhook-id"] == event["id"] and event["id"].startswith("evt_")
        assert got.headers["webhook-signature"].startswith("v1,")
        assert event["data"]["issuer"] == {"id": issuer["id"], "did": issuer["did"]}
        assert event["data"]["credential"]["id"] == c["id"] and event["data"]["credential"]["url"] == c["url"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"])
        # a changed body, another id or another secret does not verify, with either
        for body, headers, secret in ((got.body.replace(b"credential", b"Credential"), got.headers, hook["secret"]),
                                      (got.body, {**got.headers, "webhook-id": "evt_other"}, hook["secret"]),
                                      (got.body, got.headers, "whsec_" + "A" * 43 + "=")):
            with pytest.raises(WebhookVerificationError):
                Webhook(secret).verify(body, headers)
            with pytest.raises(ValueError):
                verify(secret, headers, body)
    events = {e["type"]: e["data"] for e in receiver.events()}
    assert events["credential.revoked"]["reason"] == "issued in error"
    assert events["credential.suspended"]["reason"] == "under review"
    assert events["credential.anchored"]["anchor"]["tx_hash"].startswith("0x")
    assert events["credential.issued"]["credential"]["achievement_id"] == achievement["id"]
    # the bulk anchor attach describes the credential exactly as its issue did
    assert events["credential.anchored"]["credential"] == {k: v for k, v in events["credential.issued"]["credential"].items()
                                                          if k != "replaces"}
    # the log says delivered, once each, with the answer's status
    log = _deliveries(client, key, hook["id"])
    assert [d["state"] for d in log] == ["delivered"] * len(types)
    assert all(d["attempts"] == 1 and d["last_status_code"] == 204 and d["delivered_at"] for d in log)


def test_the_secret_is_sealed_at_rest_and_never_listed(client, receiver):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url)
    with client.sessions() as s:
        row = s.get(WebhookEndpoint, hook["id"])
        assert hook["secret"] not in row.sealed_secret and hook["secret"][6:] not in row.sealed_secret
        kek = client.settings.secret("key_encryption_key")
        assert secretbox.open_sealed(kek, row.sealed_secret, associated_data(row.id)).decode() == hook["secret"]
        with pytest.raises(secretbox.SecretBoxError):  # bound to its endpoint
            secretbox.open_sealed(kek, row.sealed_secret, associated_data("whk_other"))
    listed = client.get("/api/v1/webhooks", headers=auth(key)).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]


def test_a_receiver_down_for_a_while_gets_every_event_once_back_in_order(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url)
    achievement = create_achievement(client, key)
    receiver.stop()
    creds = [issue(client, key, achievement["id"], email=f"p{i}@example.org") for i in range(3)]
    for c in creds[:2]:
        assert client.post(f"/api/v1/credentials/{c['id']}/revoke", json={"reason": "r"},
                           headers=auth(key)).status_code == 200
    assert client.post(f"/api/v1/credentials/{creds[0]['id']}/suspend", json={"reason": "s"},
                       headers=auth(key)).status_code == 409  # revoked: nothing to suspend, no event
    # down: attempts fail and are logged, nothing is lost
    _drain(deliverer, lambda: any(d["attempts"] >= 2 for d in _deliveries(client, key, hook["id"])),
           what="retries while down")
    log = _deliveries(client, key, hook["id"])
    assert len(log) == 5 and all(d["state"] == "pending" for d in log)
    tried = [d for d in log if d["attempts"]]
    assert tried and all(d["last_error"].startswith("could not connect") and d["last_status_code"] is None
                         for d in tried)
    # later events of a credential were never tried while its first was pending
    for c in creds[:2]:
        mine = sorted((d for d in log if d["subject_id"] == c["id"]), key=lambda d: d["id"])
        assert mine[1]["attempts"] == 0
    receiver.start()
    _drain(deliverer, lambda: _pending(client) == 0, what="everything delivered")
    events = receiver.events()
    assert len({e["id"] for e in events}) == 5 == len(events)  # every event, once
    for c in creds:
        mine = [e["type"] for e in events if e["data"]["credential"]["id"] == c["id"]]
        assert mine == (["credential.issued", "credential.revoked"] if c in creds[:2] else ["credential.issued"])


def test_a_receiver_answering_500_is_retried_with_growing_waits(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url, events=["credential.issued"])
    achievement = create_achievement(client, key)
    receiver.statuses = [500, 500, 500]
    c = issue(client, key, achievement["id"])
    _drain(deliverer, lambda: _pending(client) == 0)
    attempts = receiver.received
    assert [a.status for a in attempts] == [500, 500, 500, 204]
    assert len({a.headers["webhook-id"] for a in attempts}) == 1  # the same event every time
    assert len({a.body for a in attempts}) == 1
    gaps = [b.at - a.at for a, b in zip(attempts, attempts[1:])]
    # 0.2 s, 0.4 s, then the 0.8 s cap (a pass may add a little, never take any away)
    # (only lower bounds: on a loaded machine one pass may come late, so the gaps need not grow)
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38 and gaps[2] >= 0.78, gaps
    [d] = _deliveries(client, key, hook["id"])
    assert d["state"] == "delivered" and d["attempts"] == 4 and d["last_status_code"] == 204
    assert d["subject_id"] == c["id"] and d["last_error"] is None


def test_a_delivery_that_keeps_failing_ends_failed_then_can_be_replayed(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url)
    achievement = create_achievement(client, key)
    receiver.status = 503
    c = issue(client, key, achievement["id"])
    deliverer.settings = client.settings.model_copy(update={"webhook_retry_for": 2.0})
    _drain(deliverer, lambda: _deliveries(client, key, hook["id"])[0]["state"] == "failed", what="failed")
    [failed] = _deliveries(client, key, hook["id"])
    assert failed["attempts"] >= 2 and failed["last_status_code"] == 503 and failed["next_attempt_at"] is None
    assert "answered 503" in failed["last_error"]
    m = _metrics(client)
    assert 'microcred_issuer_webhook_deliveries{state="failed"} 1.0' in m
    # a failed delivery no longer holds back the credential's later events
    receiver.status = 200
    client.post(f"/api/v1/credentials/{c['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    _drain(deliverer, lambda: [e["type"] for e in receiver.events()] == ["credential.revoked"])
    # replay: the same event id and body, a new delivery in the log
    r = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver", headers=auth(key))
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] != failed["id"] and again["event_id"] == failed["event_id"] and again["state"] == "pending"
    assert client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{again['id']}/redeliver",
                       headers=auth(key)).json()["error"]["code"] == "delivery_pending"
    _drain(deliverer, lambda: len(receiver.events()) == 2)
    replayed = receiver.received[-1]
    assert replayed.headers["webhook-id"] == failed["event_id"]
    assert replayed.event == failed["payload"]
    Webhook(hook["secret"]).verify(replayed.body, replayed.headers)


def test_redelivering_a_delivered_event_sends_the_same_event_again(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url)
    achievement = create_achievement(client, key)
    issue(client, key, achievement["id"])
    _drain(deliverer, lambda: len(receiver.events()) == 1)
    [d] = _deliveries(client, key, hook["id"])
    r = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver", headers=auth(key))
    assert r.status_code == 202
    _drain(deliverer, lambda: len(receiver.events()) == 2)
    first, second = receiver.received
    assert first.body == second.body and first.headers["webhook-id"] == second.headers["webhook-id"]
    assert len(_deliveries(client, key, hook["id"])) == 2
    assert client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/redeliver",
                       headers=auth(key)).status_code == 404


def test_no_issuer_receives_or_reaches_another_issuers_webhooks(client, deliverer):
    ours, theirs = Receiver(), Receiver()
    try:
        a = create_issuer(client, "lakeside")["api_key"]
        b = create_issuer(client, "hillcrest")["api_key"]
        hook_a = _register(client, a, ours.url)
        hook_b = _register(client, b, theirs.url)
        issue(client, a, create_achievement(client, a)["id"])
        _drain(deliverer, lambda: len(ours.events()) == 1)
        time.sleep(0.2)
        deliverer.tick(wait=True)
        assert theirs.received == []
        [d] = _deliveries(client, a, hook_a["id"])
        # B sees only its own webhook, and A's are 404 to it whatever it tries
        assert [h["id"] for h in client.get("/api/v1/webhooks", headers=auth(b)).json()["items"]] == [hook_b["id"]]
        assert client.get(f"/api/v1/webhooks/{hook_a['id']}/deliveries", headers=auth(b)).status_code == 404
        assert client.post(f"/api/v1/webhooks/{hook_a['id']}/deliveries/{d['id']}/redeliver",
                           headers=auth(b)).status_code == 404
        assert client.post(f"/api/v1/webhooks/{hook_b['id']}/deliveries/{d['id']}/redeliver",
                           headers=auth(b)).status_code == 404  # A's delivery under B's own webhook
        assert client.delete(f"/api/v1/webhooks/{hook_a['id']}", headers=auth(b)).status_code == 404
        assert len(_deliveries(client, a, hook_a["id"])) == 1  # still there
        # A deletes its own: gone, and nothing more is sent to it
        assert client.delete(f"/api/v1/webhooks/{hook_a['id']}", headers=auth(a)).status_code == 204
        assert client.get(f"/api/v1/webhooks/{hook_a['id']}/deliveries", headers=auth(a)).status_code == 404
        issue(client, a, create_achievement(client, a, name="Another")["id"], email="x@example.org")
        time.sleep(0.2)
        deliverer.tick(wait=True)
        assert len(ours.received) == 1
    finally:
        ours.stop()
        theirs.stop()


@pytest.mark.parametrize("body,code", [
    ({"url": "RECEIVER", "events": ["credential.deleted"]}, "invalid_request"),
    ({"url": "RECEIVER", "events": []}, "invalid_request"),
    ({"url": "RECEIVER", "events": ["credential.issued"], "extra": 1}, "invalid_request"),
    ({"url": "ftp://127.0.0.1/hooks", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "javascript:alert(1)", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "file:///etc/passwd", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "http://user:pw@127.0.0.1/hooks", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "http://10.0.0.5/hooks", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "http://169.254.169.254/latest/meta-data", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "http://[::ffff:192.168.1.1]/hooks", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "http://127.0.0.1/a\nb", "events": ["credential.issued"]}, "url_refused"),
    ({"url": "", "events": ["credential.issued"]}, "invalid_request"),
])
def test_bad_input_is_refused_and_creates_nothing(client, receiver, body, code):
    key = create_issuer(client)["api_key"]
    body = {**body, "url": receiver.url if body["url"] == "RECEIVER" else body["url"]}
    r = client.post("/api/v1/webhooks", json=body, headers=auth(key))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert count(client, WebhookEndpoint) == 0


def test_a_key_without_the_manage_scope_cannot_register(client, receiver):
    key = create_issuer(client)["api_key"]
    r = client.post("/api/v1/api-keys", json={"name": "issuing", "scopes": ["issue", "read"]}, headers=auth(key))
    narrow = r.json()["key"]
    r = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["credential.issued"]},
                    headers=auth(narrow))
    assert r.status_code == 403 and count(client, WebhookEndpoint) == 0
    assert client.get("/api/v1/webhooks", headers=auth(narrow)).status_code == 200


def test_in_production_only_trusted_hosts_may_be_private(database_url, tmp_path, receiver):
    with issuer_client(database_url, tmp_path, env="production", **FAST) as client:
        key = create_issuer(client)["api_key"]
        for url in (receiver.url, f"http://localhost:{receiver.port}/hooks"):
            r = client.post("/api/v1/webhooks", json={"url": url, "events": ["credential.issued"]},
                            headers=auth(key))
            assert r.status_code == 422 and r.json()["error"]["code"] == "url_refused", r.text
            assert "private or local" in r.json()["error"]["message"]
        assert count(client, WebhookEndpoint) == 0
    with issuer_client(database_url, tmp_path, env="production", trusted_hosts="127.0.0.1", **FAST) as client:
        key = create_issuer(client, "hillcrest")["api_key"]
        r = client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["credential.issued"]},
                        headers=auth(key))
        assert r.status_code == 201, r.text


def test_the_url_is_checked_again_at_delivery_time(client, receiver, deliverer, monkeypatch):
    """DNS that changes after registration (rebinding) is caught before the connection is made."""
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, f"http://hooks.partner.example:{receiver.port}/hooks")  # resolves below
    real = urlsafety._addresses_blocking
    answers = {"hooks.partner.example": ["10.0.0.5"]}
    monkeypatch.setattr(urlsafety, "_addresses_blocking",
                        lambda host, port: answers.get(host) or real(host, port))
    issue(client, key, create_achievement(client, key)["id"])
    _drain(deliverer, lambda: _deliveries(client, key, hook["id"])[0]["attempts"] >= 1)
    [d] = _deliveries(client, key, hook["id"])
    assert d["state"] == "pending" and "url refused" in d["last_error"] and "private" in d["last_error"]
    assert receiver.received == []
    # back to loopback (allowed in development): delivered, to the address that was checked
    answers["hooks.partner.example"] = ["127.0.0.1"]
    _drain(deliverer, lambda: len(receiver.events()) == 1)
    assert receiver.received[-1].headers["Host"] == f"hooks.partner.example:{receiver.port}"


def test_two_deliverers_never_send_the_same_delivery_at_once(client, receiver):
    key = create_issuer(client)["api_key"]
    _register(client, key, receiver.url, events=["credential.issued"])
    achievement = create_achievement(client, key)
    r = client.post("/api/v1/credentials/batch", json={
        "achievement_id": achievement["id"],
        "recipients": [{"name": f"P {i}", "email": f"p{i}@example.org"} for i in range(40)]}, headers=auth(key))
    assert r.status_code == 202, r.text
    deliverers = [Deliverer(client.settings, client.sessions, holder=f"d{n}") for n in range(2)]
    stop = threading.Event()
    threads = [threading.Thread(target=d.run, args=(stop,)) for d in deliverers]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(receiver.events()) < 40:
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        for d in deliverers:
            d.close()
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 40 == len(set(ids)), "each batch row's event exactly once"
    assert {e["data"]["credential"]["id"] for e in receiver.events()} == {
        row["id"] for row in client.get(r.headers["location"], headers=auth(key)).json()["credentials"]}


def test_a_pathway_award_follows_its_credential_and_metrics_count_the_queue(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url, events=["pathway.awarded", "credential.issued"])
    a = create_achievement(client, key, name="Listening")["id"]
    b = create_achievement(client, key, name="Empathy")["id"]
    r = client.post("/api/v1/achievements", json={
        "name": "Customer Care", "description": "Both.", "criteria": {"narrative": "Hold both."},
        "achievementType": "MicroCredential", "requires": {"all_of": [a, b]}}, headers=auth(key))
    pathway = r.json()["id"]
    first, second = issue(client, key, a), issue(client, key, b)
    AwardRunner(client.settings, client.sessions, holder="t").tick()
    m = _metrics(client)
    assert 'microcred_issuer_webhook_deliveries{state="pending"} 4.0' in m
    assert re.search(r"^microcred_issuer_webhook_oldest_pending_age_seconds [0-9.e+-]+$", m, re.M)
    _drain(deliverer, lambda: len(receiver.events()) == 4)
    events = receiver.events()
    award = next(e for e in events if e["type"] == "pathway.awarded")
    credential_id = award["data"]["credential"]["id"]
    mine = [e["type"] for e in events if e["data"]["credential"]["id"] == credential_id]
    assert mine == ["credential.issued", "pathway.awarded"]
    assert award["data"]["pathway_id"] == pathway and award["data"]["learner_id"] == first["learner_id"]
    assert {c["credential_id"] for c in award["data"]["components"]} == {first["id"], second["id"]}
    assert 'microcred_issuer_webhook_deliveries{state="pending"} 0.0' in _metrics(client)
    assert len(_deliveries(client, key, hook["id"], state="delivered")) == 4


def test_no_endpoint_no_rows_and_only_subscribed_types_are_sent(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    achievement = create_achievement(client, key)
    c = issue(client, key, achievement["id"])
    with client.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    _register(client, key, receiver.url, events=["credential.revoked"])
    issue(client, key, achievement["id"], email="other@example.org")
    client.post(f"/api/v1/credentials/{c['id']}/revoke", json={"reason": "r"}, headers=auth(key))
    _drain(deliverer, lambda: len(receiver.events()) == 1)
    time.sleep(0.2)
    deliverer.tick(wait=True)
    assert [e["type"] for e in receiver.events()] == ["credential.revoked"]  # earlier events are not replayed


def test_an_endorsement_reaches_the_endorsed_issuers_partners_only(client, receiver, deliverer):
    from services.issuer.webhooks import events

    issuer, bystander = create_issuer(client, "endorsed"), create_issuer(client, "bystander")
    achievement = create_achievement(client, issuer["api_key"])
    _register(client, issuer["api_key"], receiver.url, events=["endorsement.added"])
    other = Receiver()
    try:
        _register(client, bystander["api_key"], other.url, events=ALL)
        r = client.post("/api/v1/endorsers", headers=auth(ADMIN),
                        json={"name": "Nusenda Credit Union", "slug": "nusenda", "url": "https://nusenda.example",
                              "email": "hr@nusenda.example"})
        assert r.status_code == 201, r.text
        endorser = r.json()
        r = client.post("/api/v1/endorsements", headers=auth(endorser["api_key"]),
                        json={"achievement_id": achievement["id"], "comment": "Co-designed with our branch staff."})
        assert r.status_code == 201, r.text
        endorsement = r.json()
        _drain(deliverer, lambda: len(receiver.events()) == 1)
        [e] = receiver.events()
        assert e["type"] == "endorsement.added" and e["data"]["issuer"]["id"] == issuer["id"]
        assert e["data"]["endorsement"]["id"] == endorsement["id"]
        assert e["data"]["endorsement"]["url"] == endorsement["url"]
        assert e["data"]["endorsement"]["achievement_id"] == achievement["id"]
        assert e["data"]["endorsement"]["endorser"]["name"] == "Nusenda Credit Union"
        assert e["data"]["endorsement"]["comment"] == "Co-designed with our branch staff."
        time.sleep(0.2)
        deliverer.tick(wait=True)
        assert other.events() == []  # the bystander issuer hears nothing of it
    finally:
        other.stop()
    with pytest.raises(ValueError):
        with client.sessions.begin() as s:
            events.record(s, issuer["id"], "credential.deleted", "x", {})


def _wait(until, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _running(deliverer):
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_a_receiver_trickling_its_answer_is_cut_at_the_deadline_and_stalls_no_one(database_url, tmp_path, receiver):
    """Headers sent a byte at a time reset every per-phase timeout: only the attempt's deadline ends it.

    Meanwhile another issuer's events go out at once, the stuck delivery is not sent a second
    time by a deliverer that takes the lease over, and the credential's next event waits.
    """
    slow = TricklingReceiver(every=0.1)
    with issuer_client(database_url, tmp_path, **{**FAST, "webhook_timeout": 3.0,
                                                   "webhook_retry_base": 5.0, "webhook_retry_max": 10.0}) as client:
        first = Deliverer(client.settings, client.sessions, holder="first")
        second = Deliverer(client.settings, client.sessions, holder="second")
        stop, thread = _running(first)
        try:
            a = create_issuer(client, "lakeside")["api_key"]
            b = create_issuer(client, "hillcrest")["api_key"]
            hook_a = _register(client, a, slow.url)
            _register(client, b, receiver.url)
            c = issue(client, a, create_achievement(client, a)["id"])
            _wait(lambda: len(slow.opened) == 1, 10, "the slow receiver's connection")
            started = slow.opened[0]
            client.post(f"/api/v1/credentials/{c['id']}/revoke", json={"reason": "r"}, headers=auth(a))
            # another issuer's event is delivered while the slow attempt is still open
            issue(client, b, create_achievement(client, b)["id"])
            _wait(lambda: len(receiver.events()) == 1, 2.5, "the other issuer's event")
            assert slow.closed == [], "the slow attempt is still open: the other was not waiting for it"
            # a second deliverer taking the lease over does not send the claimed delivery again
            with client.sessions.begin() as s:
                s.execute(update(Lease).where(Lease.name == "issuer-webhooks").values(expires_at=utcnow()))
            second.tick(wait=True)
            assert len(slow.opened) == 1
            # the attempt ends at its deadline, as a failure, and the revocation has waited
            _wait(lambda: slow.closed, 5, "the slow attempt to be cut")
            assert 2.8 < slow.closed[0] - started < 8  # the 3 s deadline, margin for a loaded machine
            _wait(lambda: _deliveries(client, a, hook_a["id"], state="pending")[-1]["attempts"] == 1, 5,
                  "the failure to be recorded")
            issued, revoked = sorted(_deliveries(client, a, hook_a["id"]), key=lambda d: d["id"])
            assert issued["last_error"] == "no answer within 3 s" and issued["last_status_code"] is None
            assert revoked["attempts"] == 0
            assert [e["type"] for e in slow.events()] == ["credential.issued"]
        finally:
            stop.set()
            thread.join(10)
            first.close()
            second.close()
            slow.stop()


def test_a_hostname_whose_dns_never_answers_fails_at_the_deadline(database_url, tmp_path, receiver, monkeypatch):
    """The issuer controls its hostname's DNS: a lookup that hangs is one failed attempt, not a stuck deliverer."""
    release = threading.Event()
    real = urlsafety._addresses_blocking
    hanging = {"on": False}

    def resolve(host, port):
        if host == "hang.partner.example":
            if hanging["on"]:
                release.wait(30)
            return ["127.0.0.1"]
        return real(host, port)

    monkeypatch.setattr(urlsafety, "_addresses_blocking", resolve)
    with issuer_client(database_url, tmp_path, **{**FAST, "webhook_timeout": 4.0,
                                                   "webhook_retry_base": 5.0, "webhook_retry_max": 10.0}) as client:
        d = Deliverer(client.settings, client.sessions, holder="dns")
        try:
            a = create_issuer(client, "lakeside")["api_key"]
            b = create_issuer(client, "hillcrest")["api_key"]
            hook_a = _register(client, a, f"http://hang.partner.example:{receiver.port}/hooks")
            hanging["on"] = True
            issue(client, a, create_achievement(client, a)["id"])
            started = time.monotonic()
            d.tick()
            _register(client, b, receiver.url)
            issue(client, b, create_achievement(client, b)["id"])
            # B's event goes out while A's lookup still hangs (a deadline of 4 s from ``started``;
            # margins for a loaded CI machine)
            _drain(d, lambda: len(receiver.events()) == 1, timeout=3.5, what="the other issuer's event")
            _drain(d, lambda: _deliveries(client, a, hook_a["id"])[0]["attempts"] == 1, timeout=8,
                   what="the DNS attempt to end")
            assert time.monotonic() - started < 8
            [dd] = _deliveries(client, a, hook_a["id"])
            assert dd["state"] == "pending" and dd["last_error"] == "no answer within 4 s"
            assert [r.path for r in receiver.received] == ["/hooks"]  # A's never reached it
        finally:
            release.set()
            d.close()


def test_redeliver_wakes_the_deliverer_after_its_commit(client, receiver, deliverer):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url)
    issue(client, key, create_achievement(client, key)["id"])
    _drain(deliverer, lambda: len(receiver.events()) == 1)
    [d] = _deliveries(client, key, hook["id"])
    seen: list[int] = []

    class Probe(threading.Event):
        def set(self):  # what a deliverer woken now would find
            seen.append(_pending(client))
            super().set()

    client.app.state.wake_webhooks = Probe()
    try:
        r = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver", headers=auth(key))
        assert r.status_code == 202, r.text
    finally:
        del client.app.state.wake_webhooks
    assert seen == [1]


def test_the_endpoint_limit_holds_under_concurrent_registrations(client, receiver, monkeypatch):
    key = create_issuer(client)["api_key"]
    for n in range(18):
        _register(client, key, f"{receiver.url}/{n}", events=["credential.issued"])
    real = webhooks_repo.count_endpoints

    def slow_count(session, issuer_id):
        found = real(session, issuer_id)
        time.sleep(0.3)  # widens the read-then-insert window
        return found

    monkeypatch.setattr(webhooks_repo, "count_endpoints", slow_count)

    def register(n):
        return client.post("/api/v1/webhooks", json={"url": f"{receiver.url}/c{n}", "events": ["credential.issued"]},
                           headers=auth(key))

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(register, range(6)))
    assert sorted(r.status_code for r in answers) == [201, 201, 409, 409, 409, 409], [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"too_many_webhooks"}
    assert count(client, WebhookEndpoint) == 20


def test_finished_deliveries_and_their_events_are_pruned_after_the_retention(client, receiver, deliverer,
                                                                             monkeypatch):
    key = create_issuer(client)["api_key"]
    hook = _register(client, key, receiver.url, events=["credential.issued"])
    achievement = create_achievement(client, key)["id"]
    for n in range(3):
        issue(client, key, achievement, email=f"p{n}@example.org")
    _drain(deliverer, lambda: len(receiver.events()) == 3)
    receiver.status = 500
    issue(client, key, achievement, email="late@example.org")
    _drain(deliverer, lambda: _deliveries(client, key, hook["id"], state="pending")[0]["attempts"] >= 1)
    old, older, recent, pending = sorted(_deliveries(client, key, hook["id"]), key=lambda d: d["id"])
    aged = utcnow() - timedelta(days=31)
    with client.sessions.begin() as s:
        for d in (old, older, pending):
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == d["id"]).values(created_at=aged))
            s.execute(update(WebhookEvent).where(WebhookEvent.id == d["event_id"]).values(created_at=aged))
    monkeypatch.setattr(deliverer_module, "PRUNE_BATCH", 1)  # bounded: one row of each table per prune
    assert deliverer.prune(utcnow()) == (1, 1)
    assert deliverer.prune(utcnow()) == (1, 1)
    assert deliverer.prune(utcnow()) == (0, 0)  # the pending one and its event stay, as does the recent one
    left = _deliveries(client, key, hook["id"])
    assert sorted(d["id"] for d in left) == [recent["id"], pending["id"]]
    with client.sessions() as s:
        assert sorted(s.scalars(select(WebhookEvent.id))) == sorted([recent["event_id"], pending["event_id"]])
    # past the retention a delivery is gone from the log, and so is its redelivery
    assert client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{old['id']}/redeliver",
                       headers=auth(key)).status_code == 404
    # the loop prunes on its own: a fresh deliverer's first pass
    with client.sessions.begin() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == recent["id"]).values(created_at=aged))
    fresh = Deliverer(client.settings, client.sessions, holder="fresh")
    try:
        fresh.tick(wait=True)
    finally:
        fresh.close()
    assert [d["id"] for d in _deliveries(client, key, hook["id"])] == [pending["id"]]


def test_revoking_an_endorsement_reaches_the_endorsed_issuers_partners_in_the_revocations_transaction(
        client, receiver, deliverer):
    """The endorser revokes by the shared route; the endorsed issuer (who has webhooks) hears ``endorsement.revoked``."""
    issuer, bystander = create_issuer(client, "endorsed"), create_issuer(client, "bystander")
    _register(client, issuer["api_key"], receiver.url, events=["endorsement.added", "endorsement.revoked"])
    other = Receiver()
    try:
        _register(client, bystander["api_key"], other.url, events=ALL)
        r = client.post("/api/v1/endorsers", headers=auth(ADMIN),
                        json={"name": "Nusenda Credit Union", "slug": "nusenda", "url": "https://nusenda.example",
                              "email": "hr@nusenda.example"})
        endorser = r.json()
        r = client.post("/api/v1/endorsements", headers=auth(endorser["api_key"]),
                        json={"issuer": "endorsed", "comment": "A partner we trust."})
        assert r.status_code == 201, r.text
        endorsement = r.json()
        route = f"/api/v1/credentials/{endorsement['id']}/revoke"
        assert client.post(route, headers=auth(endorser["api_key"]), json={"reason": "partnership ended"}
                           ).status_code == 200
        # Recorded with the revocation, under the endorsed issuer: the event row exists before any delivery.
        with client.sessions() as s:
            recorded = s.execute(select(WebhookEvent.issuer_id, WebhookEvent.type)
                                 .where(WebhookEvent.subject_id == endorsement["id"])
                                 .order_by(WebhookEvent.created_at)).all()
        assert [tuple(row) for row in recorded] == [(issuer["id"], "endorsement.added"),
                                                    (issuer["id"], "endorsement.revoked")]
        # A second revocation changes nothing and sends nothing.
        assert client.post(route, headers=auth(endorser["api_key"]), json={"reason": "again"}).status_code == 200
        assert count(client, WebhookEvent) == 2
        _drain(deliverer, lambda: len(receiver.events()) == 2)
        added, revoked = receiver.events()
        assert (added["type"], revoked["type"]) == ("endorsement.added", "endorsement.revoked")
        assert revoked["data"]["issuer"]["id"] == issuer["id"]
        assert revoked["data"]["endorsement"] == added["data"]["endorsement"]  # the same description of it
        assert revoked["data"]["endorsement"]["about"] == "issuer"
        assert revoked["data"]["endorsement"]["subject"] == issuer["did"]
        assert revoked["data"]["endorsement"]["endorser"]["id"] == endorser["id"]
        assert revoked["data"]["reason"] == "partnership ended" and revoked["data"]["revoked_at"].endswith("Z")
        time.sleep(0.2)
        deliverer.tick(wait=True)
        assert other.events() == []
    finally:
        other.stop()
    # An issuer's own credential revoked is no endorsement: only credential.revoked, nothing else.
    key = issuer["api_key"]
    c = issue(client, key, create_achievement(client, key)["id"])
    assert client.post(f"/api/v1/credentials/{c['id']}/revoke", headers=auth(key), json={"reason": "x"}
                       ).status_code == 200
    assert count(client, WebhookEvent) == 2


def test_an_idle_deliverer_rests_and_a_new_event_ends_the_rest(database_url, tmp_path, receiver, monkeypatch):
    # Nothing pending: the looks space out (up to webhook_idle_interval) instead of one every
    # webhook_interval; a credential issued meanwhile (another connection's commit, or NOTIFY on
    # PostgreSQL) is still sent within a look or two, not at the end of the rest.
    with issuer_client(database_url, tmp_path, **{**FAST, "webhook_idle_interval": 5.0}) as client:
        key = create_issuer(client)["api_key"]
        _register(client, key, receiver.url, events=["credential.issued"])
        achievement = create_achievement(client, key)["id"]
        looks: list[float] = []
        real = webhooks_repo.work_state
        monkeypatch.setattr(webhooks_repo, "work_state", lambda s, now: (looks.append(time.monotonic()), real(s, now))[1])
        deliverer = Deliverer(client.settings, client.sessions, holder="resting-deliverer")
        stop = threading.Event()
        thread = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            # The rest doubles from 0.05 s: at 3.5 s it is in the wait that ends at 6.35 s.
            time.sleep(3.5)
            rested = len(looks)
            assert rested <= 9, f"{rested} looks in 3.5 s with nothing pending (every 0.05 s would be 70)"
            issued = time.monotonic()
            issue(client, key, achievement)
            deadline = issued + 4.0
            while not receiver.events() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert receiver.events(), "the new event was not sent within 4 s"
            assert time.monotonic() - issued < 1.0  # not at the end of the wait it was in (2.85 s on)
            # Resting again (nothing pending), a redelivery through the API ends the rest as well.
            time.sleep(3.5)
            [hook] = client.get("/api/v1/webhooks", headers=auth(key)).json()["items"]
            [delivery] = _deliveries(client, key, hook["id"])
            asked = time.monotonic()
            r = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver",
                            headers=auth(key))
            assert r.status_code == 202, r.text
            while len(receiver.events()) < 2 and time.monotonic() < asked + 4.0:
                time.sleep(0.02)
            assert len(receiver.events()) == 2 and time.monotonic() - asked < 1.0
        finally:
            stop.set()
            thread.join(10)
            deliverer.close()

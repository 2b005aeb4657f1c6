"""Webhook pieces without a database: the signature against the standardwebhooks package, the retry
schedule, and the URL rules' loopback allowance (development receivers)."""

from __future__ import annotations

import asyncio
import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.core import urlsafety
from services.core.urlsafety import FetchRefused, check_url, check_url_blocking
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import signatures
from services.issuer.webhooks.deliverer import backoff


def test_our_signature_is_the_standard_webhooks_one():
    secret = signatures.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body, now = b'{"id":"evt_1","type":"credential.issued"}', int(time.time())
    headers = signatures.headers(secret, "evt_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "type": "credential.issued"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signatures.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(ValueError):
        signatures.key_of("not-a-secret")


def test_the_default_schedule_spans_a_day_and_tests_can_shrink_it(tmp_path):
    settings = IssuerSettings(data_dir=tmp_path, database_url="sqlite://")
    waits = [backoff(settings, n).total_seconds() for n in range(1, 20)]
    assert waits[:4] == [10, 20, 40, 80] and max(waits) == 4 * 3600
    assert settings.webhook_retry_for == 86400
    fast = IssuerSettings(data_dir=tmp_path, database_url="sqlite://", webhook_retry_base=0.2, webhook_retry_max=0.8)
    assert [backoff(fast, n).total_seconds() for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 0.8]
    from services.core.settings import SettingsError

    with pytest.raises((SettingsError, ValueError)):
        IssuerSettings(data_dir=tmp_path, database_url="sqlite://", webhook_retry_base=10, webhook_retry_max=1)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/h", "http://[::1]:9/h", "http://localhost:9/h"])
def test_loopback_is_allowed_only_when_asked_and_stays_pinned(url):
    with pytest.raises(FetchRefused, match="private or local"):
        check_url_blocking(url, set())
    target = check_url_blocking(url, set(), allow_loopback=True)
    assert target.url.startswith(("http://127.", "http://[::1]")) and target.headers["Host"].endswith(":9")
    assert asyncio.run(check_url(url, set(), allow_loopback=True)).url == target.url


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "169.254.169.254", "fc00::1", "0.0.0.0"])
def test_loopback_allowance_lets_no_other_private_range_through(address, monkeypatch):
    monkeypatch.setattr(urlsafety, "_addresses_blocking", lambda host, port: [address])
    with pytest.raises(FetchRefused, match="private or local"):
        check_url_blocking("https://hooks.partner.example/h", set(), allow_loopback=True)


def test_a_trusted_host_may_be_private_and_is_reached_by_name(monkeypatch):
    monkeypatch.setattr(urlsafety, "_addresses_blocking", lambda host, port: ["10.0.0.5"])
    target = check_url_blocking("https://hooks.internal/h", urlsafety.parse_hosts(" Hooks.Internal. , other"))
    assert target.url == "https://hooks.internal/h" and target.headers == {}

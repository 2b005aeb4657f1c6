"""Hostile-URL rules, before any request is made: schemes, hosts, addresses, and the pinned target."""

from __future__ import annotations

import asyncio

import pytest

from services.core import urlsafety
from services.verifier.fetch import FetchRefused, check_url, is_public


@pytest.mark.parametrize("address,public", [
    ("127.0.0.1", False), ("127.8.9.10", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("100.64.0.1", False), ("169.254.169.254", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("240.0.0.1", False), ("255.255.255.255", False), ("192.0.2.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fe80::1%eth0", False), ("fc00::1", False),
    ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("2002:7f00:1::", False),
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True),
])
def test_only_globally_routable_addresses_are_public(address, public):
    assert is_public(address) is public


def _check(url: str, trusted: set[str] | None = None, resolves: list[str] | None = None, monkeypatch=None):
    if resolves is not None:
        async def fake(host, port):
            return resolves
        monkeypatch.setattr(urlsafety, "_addresses", fake)
    return asyncio.run(check_url(url, trusted or set()))


@pytest.mark.parametrize("url,why", [
    ("file:///etc/passwd", "only http"),
    ("ftp://example.org/x", "only http"),
    ("gopher://example.org/", "only http"),
    ("javascript:alert(1)", "only http"),
    ("//example.org/x", "only http"),
    ("http://user:pw@example.org/", "credentials"),
    ("http://user@example.org/", "credentials"),
    ("http:///nohost", "no host"),
    ("http://example.org:99999/", "malformed"),
])
def test_hostile_urls_are_refused_before_any_request(url, why):
    with pytest.raises(FetchRefused, match=why):
        _check(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8002/api/v1/chain", "http://localhost/", "http://[::1]/",
                                 "http://2130706433/", "http://0x7f.1/", "http://169.254.169.254/latest/meta-data"])
def test_loopback_and_metadata_addresses_are_refused(url):
    with pytest.raises(FetchRefused, match="private or local|does not resolve"):
        _check(url)


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    with pytest.raises(FetchRefused, match="private or local"):
        _check("https://rebind.example/c", resolves=["93.184.216.34", "10.0.0.7"], monkeypatch=monkeypatch)


def test_a_trusted_host_may_be_local_and_is_not_pinned():
    target = _check("http://127.0.0.1:8000/c/x", trusted={"127.0.0.1"})
    assert target.url == "http://127.0.0.1:8000/c/x" and target.headers == {}


def test_a_public_host_is_fetched_at_the_address_that_was_checked(monkeypatch):
    target = _check("https://badges.example/c/abc?x=1", resolves=["93.184.216.34"], monkeypatch=monkeypatch)
    assert target.url == "https://93.184.216.34:443/c/abc?x=1"
    assert target.headers == {"Host": "badges.example"} and target.extensions == {"sni_hostname": "badges.example"}
    target = _check("http://badges.example:8080/", resolves=["2606:4700::1"], monkeypatch=monkeypatch)
    assert target.url == "http://[2606:4700::1]:8080/" and target.headers == {"Host": "badges.example:8080"}

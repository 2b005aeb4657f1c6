"""The verifier's pure pieces: baking, hostile-URL rules, the LinkedIn link, the badge, the rate limit."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from services.core.verification import Check, Report
from services.verifier import baking
from services.verifier.endpoints import RateLimiter, _badge_svg
from services.verifier.fetch import FetchRefused, _public, check_url
from services.verifier.pages import linkedin_url, view

CREDENTIAL = {
    "id": "http://127.0.0.1:8000/c/abc123abc123",
    "issuer": {"id": "did:web:x", "name": "Cascade & Co", "url": "https://cascade.example"},
    "validFrom": "2026-03-05T10:00:00Z", "validUntil": "2028-03-05T10:00:00Z",
    "credentialSubject": {"name": "Ada", "achievement": {"name": "Critical Thinking", "description": "d",
                                                         "criteria": {"narrative": "n"}}},
}


def test_baked_png_round_trips_the_credential_and_stays_a_valid_png():
    png = baking.badge_png("Critical Thinking", "Cascade")
    baked = baking.bake(png, CREDENTIAL)
    assert baked.startswith(baking.PNG_SIGNATURE) and baked.endswith(b"IEND\xaeB`\x82")
    assert baking.unbake(baked) == CREDENTIAL
    rebaked = baking.bake(baked, {**CREDENTIAL, "id": "other"})
    assert baking.unbake(rebaked)["id"] == "other"  # replaced, not doubled
    from io import BytesIO

    from PIL import Image
    Image.open(BytesIO(baked)).verify()  # CRCs and structure are right


@pytest.mark.parametrize("data,message", [
    (b"GIF89a....", "not a PNG"),
    (baking.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR", "truncated"),
])
def test_unbaking_junk_is_a_clear_error(data, message):
    with pytest.raises(baking.BakingError, match=message):
        baking.unbake(data)


def test_a_png_without_a_credential_says_so():
    with pytest.raises(baking.BakingError, match="no Open Badges credential"):
        baking.unbake(baking.badge_png("x", "y"))


@pytest.mark.parametrize("address,public", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("::ffff:127.0.0.1", False), ("8.8.8.8", True), ("2606:4700::1111", True),
])
def test_only_public_addresses_count_as_public(address, public):
    assert _public(address) is public


@pytest.mark.parametrize("url,why", [
    ("file:///etc/passwd", "only http"),
    ("ftp://example.org/x", "only http"),
    ("http://127.0.0.1:8002/api/v1/chain", "private or local"),
    ("http://localhost/", "private or local"),
    ("http://user:pw@example.org/", "credentials"),
    ("http:///nohost", "no host"),
])
def test_hostile_urls_are_refused_before_any_request(url, why):
    with pytest.raises(FetchRefused, match=why):
        asyncio.run(check_url(url, trusted_hosts=set()))


def test_a_trusted_host_may_be_local():
    asyncio.run(check_url("http://127.0.0.1:8000/c/x", trusted_hosts={"127.0.0.1"}))


def test_linkedin_link_has_every_field_and_prefers_the_organisation_id():
    url = linkedin_url(CREDENTIAL, CREDENTIAL["id"], "abc123abc123")
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("https://www.linkedin.com/profile/add?")
    assert q == {"startTask": "CERTIFICATION_NAME", "name": "Critical Thinking", "organizationName": "Cascade & Co",
                 "issueYear": "2026", "issueMonth": "3", "expirationYear": "2028", "expirationMonth": "3",
                 "certUrl": CREDENTIAL["id"], "certId": "abc123abc123"}
    with_org = {**CREDENTIAL, "issuer": {**CREDENTIAL["issuer"], "otherIdentifier": [
        {"type": "IdentifierEntry", "identifier": "1337", "identifierType": "ext:LinkedInOrganizationId"}]}}
    q = parse_qs(urlsplit(linkedin_url(with_org, "u", "i")).query)
    assert q["organizationId"] == ["1337"] and "organizationName" not in q


def test_badge_svg_escapes_markup():
    svg = _badge_svg("<script>alert(1)</script>", 'Evil "Co" & <b>')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg


def test_rate_limiter_refuses_after_the_burst_and_refills():
    limiter = RateLimiter(per_minute=60)
    allowed = sum(limiter.take("1.2.3.4") for _ in range(40))
    assert allowed == limiter.capacity
    assert limiter.take("5.6.7.8")  # another client has its own bucket
    limiter.buckets["1.2.3.4"] = (0.0, limiter.buckets["1.2.3.4"][1] - 2.0)  # two seconds later
    assert limiter.take("1.2.3.4")


def test_page_view_puts_the_verdict_in_plain_words():
    report = Report(status="revoked", checks=[Check("revocation", "failed", "Revoked on 1 May 2026.")],
                    credential={"issuer": "Cascade & Co"})
    v = view(report, CREDENTIAL, CREDENTIAL["id"], "abc123abc123")
    assert v["verdict"] == "Revoked" and v["tone"] == "bad" and not v["verified"]
    assert v["checks"][0]["title"] == "Not revoked" and v["recipient"] == "Ada"

"""The credential page and the embed in real headless Chromium (Debian's), driven by Playwright.

Saves screenshots under artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("MICROCRED_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (Debian package 'chromium'; make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def credential_url(stack):
    with new_issuer(stack.url("issuer"), "cascade", name="Cascade Community College",
                    linkedin_organization_id="424242") as api:
        achievement = api.achievement(
            name="Intercultural Fluency", description="Works well across cultures and languages.",
            criteria={"narrative": "Completed a 30-hour course and an assessed team project with partners abroad."},
            alignment=[{"targetName": "Cultural awareness", "targetFramework": "ESCO", "targetCode": "S1.4.0",
                        "targetUrl": "https://esco.ec.europa.eu/"}], validity_days=730)
        credential = api.issue(achievement["id"])
        wait_for(lambda: api.get(f"/api/v1/credentials/{credential['id']}").json()["status"] == "anchored", timeout=60)
    return credential["url"].replace(stack.env["MICROCRED_PUBLIC_BASE_URL"], stack.url("verifier")), credential["id"]


def test_the_page_shows_the_verdict_first_and_links_to_linkedin(browser, credential_url):
    url, credential_id = credential_url
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 1800})
    response = page.goto(url)
    assert response.status == 200
    assert response.headers["x-frame-options"] == "DENY"
    verdict = page.locator("h1.verdict-title")
    assert verdict.inner_text() == "Verified"
    # the verdict comes before everything else on the page
    assert page.locator("main > section").first.get_attribute("class").startswith("verdict")
    assert page.locator(".check-passed").count() == 7
    link = page.get_by_role("link", name="Add to LinkedIn profile").get_attribute("href")
    q = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert q["startTask"] == "CERTIFICATION_NAME" and q["name"] == "Intercultural Fluency"
    assert q["organizationId"] == "424242" and q["certId"] == credential_id and "expirationYear" in q
    assert page.locator("meta[property='og:title']").get_attribute("content").startswith("Intercultural Fluency")
    page.screenshot(path=str(ARTIFACTS / "credential-page.png"), full_page=True)
    # The one script (a file of ours, allowed by the CSP) ran: the Copy buttons are shown.
    assert page.get_by_role("button", name="Copy").first.is_visible()
    assert page.locator(".qr svg").count() == 1
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    errors: list[str] = []
    phone.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    phone.goto(url)
    assert phone.locator("h1.verdict-title").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off a phone screen
    assert errors == []
    phone.screenshot(path=str(ARTIFACTS / "credential-page-phone.png"), full_page=False)


def test_the_embed_can_be_framed_and_shows_the_verdict(browser, credential_url):
    url, _ = credential_url
    page = browser.new_page(viewport={"width": 420, "height": 220})
    response = page.goto(url + "/embed")
    assert response.status == 200 and "x-frame-options" not in response.headers
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert page.locator(".pill").inner_text().endswith("Verified")
    assert page.locator(".pill").get_attribute("data-status") == "valid"
    page.screenshot(path=str(ARTIFACTS / "embed.png"))

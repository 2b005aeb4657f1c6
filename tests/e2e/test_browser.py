"""The credential page, a learner's profile and their embeds in real headless Chromium (Debian's),
driven by Playwright, at desktop and phone widths.

Saves screenshots under artifacts/ (gitignored) for a person to look at; the profile's also under
pytest's tmp_path, where the test checks them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.browser import ARTIFACTS, chromium
from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.fixture(scope="module")
def cascade(stack):
    with new_issuer(stack.url("issuer"), "cascade", name="Cascade Community College",
                    linkedin_organization_id="424242") as api:
        yield api


@pytest.fixture(scope="module")
def credential_url(stack, cascade):
    achievement = cascade.achievement(
        name="Intercultural Fluency", description="Works well across cultures and languages.",
        criteria={"narrative": "Completed a 30-hour course and an assessed team project with partners abroad."},
        alignment=[{"targetName": "Cultural awareness", "targetFramework": "ESCO", "targetCode": "S1.4.0",
                    "targetUrl": "https://esco.ec.europa.eu/"}], validity_days=730)
    credential = cascade.issue(achievement["id"])
    wait_for(lambda: cascade.get(f"/api/v1/credentials/{credential['id']}").json()["status"] == "anchored", timeout=60)
    return credential["url"].replace(stack.env["MICROCRED_PUBLIC_BASE_URL"], stack.url("verifier")), credential["id"]


@pytest.fixture(scope="module")
def profile_url(stack, cascade, credential_url):
    """Ada's profile: the credential above (outside any pathway) and two of the three nano-credentials
    of Customer Empathy, with levels and O*NET / ESCO skills."""
    s, api = stack, cascade
    nanos = []
    for name, level, code in (("Active Listening", "foundational", "2.A.1.b"),
                              ("Perspective Taking", "intermediate", "2.B.1.a"),
                              ("Conflict Resolution", "intermediate", "2.B.1.d")):
        nanos.append(api.post("/api/v1/achievements", json={
            "name": name, "description": f"{name}, assessed.", "criteria": {"narrative": "Assessed in practice."},
            "achievementType": "Competency", "level": level, "category": "soft",
            "alignment": [{"targetName": name, "targetFramework": "O*NET", "targetCode": code,
                           "targetUrl": f"https://www.onetonline.org/find/descriptor/result/{code}"},
                          {"targetName": name.lower(), "targetFramework": "ESCO", "targetCode": "S1.1.1",
                           "targetUrl": "https://esco.ec.europa.eu/en/classification/skill_main"}]}).json()["id"])
    r = api.post("/api/v1/achievements", json={"name": "Customer Empathy", "description": "The three together.",
                                               "criteria": {"narrative": "Hold all three."},
                                               "achievementType": "MicroCredential", "requires": {"all_of": nanos}})
    assert r.status_code == 201, r.text
    issued = [api.post("/api/v1/credentials", json={"achievement_id": a, "recipient": {
        "name": "Ada Lovelace", "email": "ada@example.org"}}).json() for a in nanos[:2]]
    for c in issued:
        wait_for(lambda: api.get(f"/api/v1/credentials/{c['id']}").json()["status"] == "anchored", timeout=60)
    profile = api.post(f"/api/v1/learners/{issued[0]['learner_id']}/profile").json()
    return profile["url"].replace(s.env["MICROCRED_PUBLIC_BASE_URL"], s.url("verifier"))


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


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("width,height,mobile", [(1100, 1400, False), (390, 844, True)])
def test_the_profile_groups_by_pathway_and_fits_the_screen(browser, profile_url, width, height, mobile, tmp_path):
    page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=mobile)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(profile_url)
    assert response.status == 200 and response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert page.locator("h1#learner").inner_text() == "Ada Lovelace"
    group = page.locator("section.pathway")
    assert group.locator("h2").inner_text() == "Customer Empathy"
    assert group.locator(".progress-text").inner_text() == "2 of 3 toward Customer Empathy"
    bar = page.get_by_role("progressbar", name="2 of 3 toward Customer Empathy")
    assert bar.evaluate("e => [e.value, e.max]") == [2, 3]
    assert "Conflict Resolution" in group.locator(".missing").inner_text()
    assert group.locator(".cred .pill[data-status='valid']").count() == 2
    assert page.locator(".cred").count() == 3  # and Intercultural Fluency under "Other credentials"
    assert page.get_by_role("heading", name="Other credentials").is_visible()
    assert group.locator(".level").first.inner_text() == "Foundational"
    onet = group.locator(".cred").first.locator(".skills a").first  # a skill pill links to its framework
    assert onet.inner_text() == "Active Listening"
    assert onet.get_attribute("href") == "https://www.onetonline.org/find/descriptor/result/2.A.1.b"
    assert page.locator("link[type='application/json+oembed']").count() == 1
    page.wait_for_load_state("networkidle")
    # nothing runs off the screen, at desktop and at phone width
    assert page.evaluate("document.documentElement.scrollWidth") <= page.evaluate("window.innerWidth")
    assert errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp_path / f"profile-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    size = _png_size(shot)
    assert size[0] == width and size[1] >= 400 and shot.stat().st_size > 20_000, (size, shot.stat().st_size)
    shutil.copy(shot, ARTIFACTS / shot.name)
    print(f"profile screenshot: {shot} (and {ARTIFACTS / shot.name})")


def test_the_profile_embed_can_be_framed_and_shows_every_badge(browser, profile_url):
    page = browser.new_page(viewport={"width": 460, "height": 300})
    response = page.goto(profile_url + "/embed")
    assert response.status == 200 and "x-frame-options" not in response.headers
    assert "frame-ancestors *" in response.headers["content-security-policy"]
    assert page.locator(".badge-grid li").count() == 3
    assert page.locator(".badge-grid li[data-status='valid']").count() == 3
    assert page.locator(".badge-grid img").first.evaluate("e => e.complete && e.naturalWidth > 0")
    assert page.locator(".card-progress span").inner_text() == "2 of 3 toward Customer Empathy"
    page.screenshot(path=str(ARTIFACTS / "profile-embed.png"))

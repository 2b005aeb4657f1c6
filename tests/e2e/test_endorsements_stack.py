"""Endorsements over the real services (docs/endorsements.md): anvil, registry and worker, issuer and
outbox, verifier, all over HTTP, and the credential page in real Chromium.

An endorser (its own DID, key and chain account) endorses an achievement or an issuer; every
credential concerned — issued before the endorsement or after — shows it, verified with the same
checks as a credential; a revoked or tampered endorsement is shown as such and never counted; the
endorser's key does nothing an issuer's does, an issuer's key cannot endorse, and bad input
creates nothing.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from sqlalchemy import create_engine, text

from tests.support.browser import ARTIFACTS, chromium
from tests.support.issuers import unique_slug
from tests.support.stack import ADMIN_TOKEN, wait_for

pytestmark = pytest.mark.slow
COMMENT = "Graduates of this course join our branches ready to weigh evidence and explain a decision."


def _admin(stack) -> httpx.Client:
    return httpx.Client(base_url=stack.env["MICROCRED_ISSUER_URL"], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                        timeout=30)


def _client(stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.env["MICROCRED_ISSUER_URL"], headers={"Authorization": f"Bearer {key}"},
                        timeout=30)


def _org(stack, route: str, slug: str, name: str, me: str) -> httpx.Client:
    slug = unique_slug(slug)  # the e2e modules share one stack (tests/e2e/conftest.py)
    r = _admin(stack).post(route, json={"name": name, "slug": slug, "url": f"https://{slug}.example",
                                        "email": f"office@{slug}.example"})
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["did"].endswith(f":issuers:{slug}") and info["api_key"].startswith("mc_live_")
    api = _client(stack, info["api_key"])
    wait_for(lambda: api.get(me).json()["registry"]["state"] == "active", timeout=60, what=f"{slug} registered")
    api.info = info
    return api


def _issuer(stack, slug, name):
    return _org(stack, "/api/v1/issuers", slug, name, "/api/v1/issuer")


def _endorser(stack, slug, name):
    return _org(stack, "/api/v1/endorsers", slug, name, "/api/v1/endorser")


def _achievement(api, name):
    r = api.post("/api/v1/achievements", json={"name": name, "description": f"{name}, shown at work.",
                                               "criteria": {"narrative": "Assessed in practice."}})
    assert r.status_code == 201, r.text
    return r.json()


def _issue(api, achievement_id, email="ada@example.org"):
    r = api.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                              "recipient": {"name": "Ada Lovelace", "email": email}})
    assert r.status_code == 201, r.text
    return r.json()


def _endorse(api, **body):
    r = api.post("/api/v1/endorsements", json={"comment": COMMENT, **body})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) >= {"id", "url"}
    return created


def _report(url):
    r = httpx.get(url, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _verified(url):
    return wait_for(lambda: (lambda b: b if b["verified"] else None)(_report(url)), timeout=60,
                    what=f"{url} verified")


def _entry(entries, url):
    return next((e for e in entries or [] if e["url"] == url), None)


def _endorsements_when(url, predicate, what):
    """The report's endorsements once ``predicate(endorsements)`` holds (reports are reused for seconds)."""
    return wait_for(lambda: (lambda b: b["endorsements"] if predicate(b.get("endorsements")) else None)(_report(url)),
                    timeout=30, what=what)


@pytest.fixture(scope="module")
def world(stack):
    cascade = _issuer(stack, "cascade", "Cascade Community College")
    critical = _achievement(cascade, "Critical Thinking")
    empathy = _achievement(cascade, "Empathy")
    before = _issue(cascade, critical["id"])  # issued before anything endorses its achievement
    nusenda = _endorser(stack, "nusenda", "Nusenda Credit Union")
    bosque = _endorser(stack, "bosque", "Bosque Builders")
    return {"stack": stack, "cascade": cascade, "critical": critical, "empathy": empathy, "before": before,
            "nusenda": nusenda, "bosque": bosque}


def test_an_endorsement_shows_verified_on_every_credential_of_the_achievement(world):
    cascade, nusenda, critical = world["cascade"], world["nusenda"], world["critical"]
    endorsement = _endorse(nusenda, achievement_id=critical["id"])
    after = _issue(cascade, critical["id"], email="grace@example.org")
    other = _issue(cascade, world["empathy"]["id"])
    # The endorsement is a credential of its own: signed by the endorser, anchored, its own page.
    own = _verified(endorsement["url"])
    assert own["credential"]["name"] == "Endorsement of Critical Thinking by Nusenda Credit Union"
    assert own["credential"]["issuer"] == "Nusenda Credit Union"
    assert "endorsements" not in own  # an endorsement is not itself endorsed
    document = httpx.get(endorsement["url"] + "/credential.json", timeout=30).json()
    assert document["type"] == ["VerifiableCredential", "EndorsementCredential"]
    assert document["issuer"]["id"] == nusenda.info["did"]
    assert document["credentialSubject"] == {"id": critical["achievement"]["id"], "type": ["EndorsementSubject"],
                                             "endorsementComment": COMMENT}
    for credential in (world["before"], after):
        body = _verified(credential["url"])
        entries = _endorsements_when(credential["url"], lambda e: e and e[0]["verified"], "endorsement verified")
        assert [{k: e[k] for k in ("endorser", "comment", "url", "verified", "about")} for e in entries] == [
            {"endorser": "Nusenda Credit Union", "comment": COMMENT, "url": endorsement["url"], "verified": True,
             "about": "achievement"}]
        assert body["verified"] is True
    # Another achievement of the same issuer is not endorsed by it.
    assert _verified(other["url"])["endorsements"] == []
    # A pasted credential document gets the same endorsements (looked up beside its own checks).
    pasted = httpx.post(f"{world['stack'].url('verifier')}/api/v1/verify", timeout=30,
                        json={"credential": httpx.get(after["url"] + "/credential.json", timeout=30).json()}).json()
    assert pasted["verified"] is True and [e["verified"] for e in pasted["endorsements"]] == [True]
    # A forged copy names the same achievement, but until its signature holds no endorsement is shown beside it.
    forged = httpx.get(after["url"] + "/credential.json", timeout=30).json()
    forged["credentialSubject"]["name"] = "Mallory"
    pasted = httpx.post(f"{world['stack'].url('verifier')}/api/v1/verify", timeout=30, json={"credential": forged}).json()
    assert pasted["verified"] is False and pasted["endorsements"] == []
    # The page and the embed say it, with the comment.
    page = httpx.get(world["before"]["url"], timeout=30).text
    assert "Endorsed by" in page and "Nusenda Credit Union" in page and "checked" in page and COMMENT in page
    embed = httpx.get(world["before"]["url"] + "/embed", timeout=30).text
    assert "Endorsed by Nusenda Credit Union" in embed
    own_page = httpx.get(endorsement["url"], timeout=30).text
    assert "Endorsement of Critical Thinking by Nusenda Credit Union" in own_page and COMMENT in own_page
    # And the learner's profile shows it beside the credential, checked.
    r = cascade.post(f"/api/v1/learners/{after['learner_id']}/profile")
    assert r.status_code == 201, r.text
    profile_url = r.json()["url"]
    listed = httpx.get(profile_url, headers={"Accept": "application/json"}, timeout=30).json()["credentials"]
    assert [(c["url"], c["endorsements"]) for c in listed] == [
        (after["url"], [{"endorser": "Nusenda Credit Union", "comment": COMMENT, "url": endorsement["url"],
                         "verified": True}])]
    assert "Endorsed by" in httpx.get(profile_url, timeout=30).text
    # One standing endorsement per endorser and subject.
    r = nusenda.post("/api/v1/endorsements", json={"achievement_id": critical["id"], "comment": "Again."})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_endorsed"


def test_an_issuer_endorsement_shows_on_all_that_issuers_credentials(world):
    cascade, bosque = world["cascade"], world["bosque"]
    endorsement = _endorse(bosque, issuer=cascade.info["slug"], comment="Cascade trains the apprentices we hire.")
    _verified(endorsement["url"])
    listed = httpx.get(f"{world['stack'].env['MICROCRED_ISSUER_URL']}/issuers/{cascade.info['slug']}/endorsements", timeout=30)
    assert [i["url"] for i in listed.json()["items"]] == [endorsement["url"]]
    fresh = _issue(cascade, world["empathy"]["id"], email="linus@example.org")
    for credential in (world["before"], fresh):
        _verified(credential["url"])
        entries = _endorsements_when(
            credential["url"], lambda e: any(x["url"] == endorsement["url"] and x["verified"] for x in e or []),
            "issuer endorsement verified")
        mine = next(e for e in entries if e["url"] == endorsement["url"])
        assert mine["endorser"] == "Bosque Builders" and mine["about"] == "issuer"
        assert mine["comment"] == "Cascade trains the apprentices we hire."


def test_a_revoked_endorsement_is_shown_revoked_and_never_verified(world, stack):
    cascade = world["cascade"]
    teamwork = _achievement(cascade, "Teamwork")
    credential = _issue(cascade, teamwork["id"])
    endorsement = _endorse(world["nusenda"], achievement_id=teamwork["id"])
    _verified(endorsement["url"])
    _endorsements_when(credential["url"], lambda e: (_entry(e, endorsement["url"]) or {}).get("verified"),
                       "endorsement verified")
    # Nobody else can withdraw it: not another endorser, not the endorsed issuer.
    for other in (world["bosque"], cascade):
        r = other.post(f"/api/v1/credentials/{endorsement['id']}/revoke", json={"reason": "not yours"})
        assert r.status_code == 404, r.text
    assert _report(endorsement["url"])["verified"] is True
    r = world["nusenda"].post(f"/api/v1/credentials/{endorsement['id']}/revoke", json={"reason": "programme changed"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    entries = _endorsements_when(credential["url"], lambda e: (_entry(e, endorsement["url"]) or {}).get("status")
                                 == "revoked", "shown revoked")
    mine = _entry(entries, endorsement["url"])
    assert mine["verified"] is False and mine["endorser"] == "Nusenda Credit Union"
    assert _report(credential["url"])["verified"] is True  # the credential itself stands
    page = httpx.get(credential["url"], timeout=30).text
    assert "Nusenda Credit Union</a> — <span class=\"endorsement-state\">withdrawn (revoked)" in page
    # The embed counts only verified endorsements (Bosque's of the issuer), never the withdrawn one.
    assert "Endorsed by Nusenda" not in httpx.get(credential["url"] + "/embed", timeout=30).text
    assert world["nusenda"].get(f"/api/v1/endorsements/{endorsement['id']}").json()["status"] == "revoked"
    # Withdrawn, it may be said again.
    again = _endorse(world["nusenda"], achievement_id=teamwork["id"], comment="Endorsed again after the review.")
    assert again["id"] != endorsement["id"]


def test_a_tampered_endorsement_is_not_verified(world, stack):
    cascade = world["cascade"]
    drones = _achievement(cascade, "Drone Operations")
    credential = _issue(cascade, drones["id"])
    endorsement = _endorse(world["bosque"], achievement_id=drones["id"])
    _verified(endorsement["url"])
    _endorsements_when(credential["url"], lambda e: (_entry(e, endorsement["url"]) or {}).get("verified"),
                       "endorsement verified")
    # The issuer's database is changed behind its back: the served document is no longer what was signed.
    engine = create_engine(stack.database_url)
    with engine.begin() as db:
        stored = orjson.loads(db.execute(text("SELECT document FROM issuer_credentials WHERE id = :id"),
                                         {"id": endorsement["id"]}).scalar_one())
        stored["credentialSubject"]["endorsementComment"] = "The best course in the state, bar none."
        db.execute(text("UPDATE issuer_credentials SET document = :d WHERE id = :id"),
                   {"d": orjson.dumps(stored).decode(), "id": endorsement["id"]})
    engine.dispose()
    entries = _endorsements_when(credential["url"], lambda e: (_entry(e, endorsement["url"]) or {}).get("status")
                                 == "invalid", "shown invalid")
    assert _entry(entries, endorsement["url"])["verified"] is False
    assert _report(endorsement["url"])["verified"] is False
    page = httpx.get(credential["url"], timeout=30).text
    assert "Bosque Builders</a> — <span class=\"endorsement-state\">not valid" in page


def test_endorser_keys_cannot_act_as_issuers_and_issuer_keys_cannot_endorse(world):
    nusenda, cascade, critical = world["nusenda"], world["cascade"], world["critical"]
    before = len(nusenda.get("/api/v1/endorsements").json()["items"])
    refused = [
        nusenda.post("/api/v1/credentials", json={"achievement_id": critical["id"],
                                                  "recipient": {"name": "Eve", "email": "eve@example.org"}}),
        nusenda.post("/api/v1/achievements", json={"name": "Fake", "description": "Fake.",
                                                   "criteria": {"narrative": "None."}}),
        nusenda.post(f"/api/v1/credentials/{world['before']['id']}/suspend", json={"reason": "hostile"}),
        nusenda.get("/api/v1/issuer"),
        nusenda.get("/api/v1/credentials"),
        nusenda.post("/api/v1/issuer/signing-keys/rotate", json={}),
        nusenda.post("/api/v1/api-keys", json={"name": "more", "scopes": ["issue"]}),
        nusenda.post("/credentials/issue", json={"credential": {}}),
    ]
    for r in refused:
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", r.text
    # Its revoke scope reaches only its own endorsements: an issuer's credential is not found.
    r = nusenda.post(f"/api/v1/credentials/{world['before']['id']}/revoke", json={"reason": "hostile"})
    assert r.status_code == 404
    assert _report(world["before"]["url"])["status"] == "valid"
    # An issuer's key cannot endorse, its own achievement nor another issuer.
    for body in ({"achievement_id": critical["id"]}, {"issuer": cascade.info["slug"]}):
        r = cascade.post("/api/v1/endorsements", json={**body, "comment": "We are great."})
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", r.text
    # Nor through the standard VC-API, by writing an EndorsementCredential itself.
    r = cascade.post("/credentials/issue", json={"credential": {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
        "type": ["VerifiableCredential", "EndorsementCredential"],
        "credentialSubject": {"id": critical["achievement"]["id"], "type": ["EndorsementSubject"],
                              "endorsementComment": "We are great."}}})
    assert 400 <= r.status_code < 500, r.text
    assert len(nusenda.get("/api/v1/endorsements").json()["items"]) == before


@pytest.mark.parametrize("body, status, code", [
    ({"achievement_id": "ach_doesnotexist0000", "comment": "Fine."}, 404, "unknown_achievement"),
    ({"issuer": "no-such-issuer", "comment": "Fine."}, 404, "unknown_issuer"),
    ({"issuer": "bosque", "comment": "Endorsers endorse issuers."}, 422, "not_an_issuer"),
    ({"achievement_id": "x", "issuer": "cascade", "comment": "Both."}, 422, None),
    ({"comment": "Neither."}, 422, None),
    ({"issuer": "cascade", "comment": ""}, 422, None),
    ({"issuer": "cascade", "comment": "   "}, 422, None),
    ({"issuer": "cascade", "comment": "x" * 2001}, 422, None),
    ({"issuer": "cascade"}, 422, None),
    ({"issuer": "cascade", "comment": "Hidden \u202e text"}, 422, None),
])
def test_bad_endorsements_are_refused_and_create_nothing(world, stack, body, status, code):
    engine = create_engine(stack.database_url)
    with engine.connect() as db:
        counts = lambda: (db.execute(text("SELECT count(*) FROM issuer_endorsements")).scalar_one(),  # noqa: E731
                          db.execute(text("SELECT count(*) FROM issuer_credentials")).scalar_one())
        before = counts()
        if body.get("issuer") in ("bosque", "cascade"):  # the organisations' slugs are made unique
            body = {**body, "issuer": world[body["issuer"]].info["slug"]}
        r = world["nusenda"].post("/api/v1/endorsements", json=body)
        assert r.status_code == status, r.text
        if code:
            assert r.json()["error"]["code"] == code
        db.rollback()
        assert counts() == before
    engine.dispose()


# -- in real Chromium ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_the_credential_page_shows_the_endorsement_in_chromium(browser, world):
    cascade, nusenda = world["cascade"], world["nusenda"]
    fluency = _achievement(cascade, "Intercultural Fluency")
    credential = _issue(cascade, fluency["id"])
    endorsement = _endorse(nusenda, achievement_id=fluency["id"], comment="Our member-facing staff need exactly this.")
    _verified(endorsement["url"])
    _endorsements_when(credential["url"], lambda e: (_entry(e, endorsement["url"]) or {}).get("verified"),
                       "endorsement verified")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1100, "height": 1800})
    assert page.goto(credential["url"]).status == 200
    assert page.locator("h1.verdict-title").inner_text() == "Verified"
    item = page.locator("#endorsements li.endorsement", has_text="Nusenda")
    assert item.get_attribute("data-verified") == "true"
    assert item.locator(".endorsed-by").inner_text() == "Endorsed by Nusenda Credit Union — checked"
    assert item.locator(".endorsement-comment").inner_text() == "Our member-facing staff need exactly this."
    assert item.get_by_role("link", name="Nusenda Credit Union").get_attribute("href") == endorsement["url"]
    page.screenshot(path=str(ARTIFACTS / "credential-page-endorsed.png"), full_page=True)
    # Following it opens the endorsement's own page, which says what it is.
    item.get_by_role("link", name="Nusenda Credit Union").click()
    page.wait_for_url(endorsement["url"])
    assert page.locator("h1.verdict-title").inner_text() == "Verified"
    assert page.locator(".credential h2").inner_text() == "Endorsement of Intercultural Fluency by Nusenda Credit Union"
    assert page.locator("#endorsement-says .endorsement-comment").inner_text() == \
        "Our member-facing staff need exactly this."
    assert page.get_by_role("link", name="Add to LinkedIn profile").count() == 0
    page.screenshot(path=str(ARTIFACTS / "endorsement-page.png"), full_page=True)
    embed = browser.new_page(viewport={"width": 420, "height": 220})
    assert embed.goto(credential["url"] + "/embed").status == 200
    assert embed.locator("#endorsed").inner_text().startswith("Endorsed by Nusenda Credit Union")

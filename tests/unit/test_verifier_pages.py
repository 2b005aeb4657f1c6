"""What the pages show: plain-word verdicts, safe links, the LinkedIn link, escaping in the rendered HTML."""

from __future__ import annotations

import copy
from urllib.parse import parse_qs, urlsplit

import pytest
from jinja2 import Environment, FileSystemLoader

from services.verifier import endpoints, pages
from services.verifier.pages import Links, linkedin_url, safe_url, view
from tests.unit.verifier_fakes import BASE, CREDENTIAL, CREDENTIAL_ID, report

LINKS = Links(f"{BASE}/c/{CREDENTIAL_ID}", CREDENTIAL_ID, "http://127.0.0.1:8001/public/images/")
templates = Environment(loader=FileSystemLoader(endpoints.templates.env.loader.searchpath), autoescape=True)


def render(name: str, **context) -> str:
    return templates.get_template(name).render(**context)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_linkedin_link_carries_every_field_url_encoded():
    url = linkedin_url(CREDENTIAL, CREDENTIAL["id"], CREDENTIAL_ID)
    assert url.startswith("https://www.linkedin.com/profile/add?startTask=CERTIFICATION_NAME&")
    assert "Cascade%20%26%20Co" in url and "Critical%20Thinking" in url
    assert _query(url) == {"startTask": "CERTIFICATION_NAME", "name": "Critical Thinking",
                           "organizationName": "Cascade & Co", "issueYear": "2026", "issueMonth": "3",
                           "expirationYear": "2028", "expirationMonth": "3", "certUrl": CREDENTIAL["id"],
                           "certId": CREDENTIAL_ID}


def test_linkedin_link_prefers_the_organisation_id_and_omits_expiry_without_valid_until():
    credential = copy.deepcopy(CREDENTIAL)
    del credential["validUntil"]
    credential["issuer"]["otherIdentifier"] = [{"type": "IdentifierEntry", "identifier": "1337",
                                                "identifierType": "ext:LinkedInOrganizationId"}]
    q = _query(linkedin_url(credential, "u", "i"))
    assert q["organizationId"] == "1337" and "organizationName" not in q
    assert "expirationYear" not in q and "expirationMonth" not in q


@pytest.mark.parametrize("status,headline,tone", [("valid", "Verified", "ok"), ("pending", "Being recorded", "wait"),
                                                  ("revoked", "Revoked", "bad"), ("expired", "Expired", "warn"),
                                                  ("invalid", "Not valid", "bad")])
def test_each_status_has_a_plain_word_verdict(status, headline, tone):
    v = view(report(status), CREDENTIAL, LINKS)
    assert (v["verdict"], v["tone"], v["verified"]) == (headline, tone, status == "valid")
    assert [c["id"] for c in v["checks"]] == ["format", "signature", "issuer", "integrity", "anchor", "revocation",
                                              "expiry"]
    assert all(c["title"] and c["state"] for c in v["checks"])


@pytest.mark.parametrize("url,ok", [("https://x.example/a", True), ("http://x.example", True),
                                    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
                                    ("data:text/html,<script>", False), ("/relative", False),
                                    ('https://x.example/"onmouseover="x', False), (None, False), (5, False)])
def test_only_absolute_http_links_become_links(url, ok):
    assert (safe_url(url) is not None) is ok


def test_the_view_drops_dangerous_links_and_keeps_their_text():
    credential = copy.deepcopy(CREDENTIAL)
    credential["issuer"]["url"] = "javascript:alert(1)"
    credential["credentialSubject"]["achievement"]["alignment"][0]["targetUrl"] = "javascript:alert(2)"
    v = view(report(), credential, LINKS)
    assert v["issuer"]["url"] is None and v["alignment"][0]["url"] is None and v["alignment"][0]["name"] == "Analysis"


def test_images_of_our_issuer_go_through_our_routes_and_others_only_when_https_or_inline():
    credential = copy.deepcopy(CREDENTIAL)
    credential["issuer"]["image"] = {"id": "http://127.0.0.1:8001/public/images/" + "a" * 64 + ".png", "type": "Image"}
    v = view(report(), credential, LINKS)
    assert v["badge_src"] == f"{LINKS.page_url}/badge.svg" and v["issuer"]["logo"] == f"{LINKS.page_url}/logo"
    pasted = Links(credential["id"], None)
    v = view(report(), credential, pasted)  # a pasted document: no routes of ours to point at
    assert v["issuer"]["logo"] is None and v["badge_src"].startswith("data:image/svg+xml;base64,")
    credential["credentialSubject"]["achievement"]["image"] = "https://img.example/b.png"
    assert view(report(), credential, pasted)["badge_src"] == "https://img.example/b.png"
    assert view(report(), credential, pasted)["linkedin_url"] is None


def _page(credential: dict, status: str = "valid") -> str:
    v = view(report(status, credential), credential, LINKS)
    return render("page.html", v=v, qr_svg=endpoints.qr_svg(LINKS.page_url),
                  oembed_url=pages.oembed_link(BASE, LINKS.page_url))


def test_the_page_puts_the_verdict_first_and_shows_everything():
    html = _page(CREDENTIAL)
    body = html[html.index("<body"):]
    assert body.index("Verified") < body.index("Critical Thinking") < body.index("What was checked")
    for expected in ("Ada Lovelace", "Cascade &amp; Co", "5 March 2026", "5 March 2028", "Passed the assessment.",
                     "Analysis", "ESCO", "Capstone", "On-chain evidence", "0x" + "22" * 32, "3 confirmations",
                     "Add to LinkedIn profile", "/credential.json", "/badge.png", "/embed", "<svg"):
        assert expected in html, expected
    assert f'<meta property="og:image" content="{LINKS.page_url}/badge.png">' in html
    assert f'<meta property="og:url" content="{LINKS.page_url}">' in html
    assert 'name="twitter:card"' in html and 'application/json+oembed' in html
    assert "<script>" not in html and " on" + "click=" not in html  # the only script is a file


def test_markup_in_names_and_descriptions_is_shown_as_text():
    credential = copy.deepcopy(CREDENTIAL)
    credential["credentialSubject"]["name"] = "<img src=x onerror=alert(1)>"
    credential["credentialSubject"]["achievement"]["name"] = "<script>alert('n')</script>"
    credential["credentialSubject"]["achievement"]["description"] = '"><iframe src=//evil>'
    credential["issuer"]["name"] = "</title><script>alert(3)</script>"
    for html in (_page(credential), render("embed.html", v=view(report("valid", credential), credential, LINKS))):
        assert "<script>alert" not in html and "<img src=x" not in html and "<iframe src=//evil" not in html
        assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_revoked_page_says_so_and_marks_the_failed_check():
    html = _page(CREDENTIAL, "revoked")
    assert "Revoked" in html and 'class="check check-failed" data-check="revocation"' in html
    assert 'data-status="revoked"' in html


def test_the_embed_snippet_is_escaped_in_the_page_and_names_the_embed_route():
    credential = copy.deepcopy(CREDENTIAL)
    credential["credentialSubject"]["achievement"]["name"] = 'Drone "Ops" <1>'
    v = view(report(), credential, LINKS)
    assert v["embed_snippet"].startswith(f'<iframe src="{LINKS.page_url}/embed"')
    assert 'title="Drone &quot;Ops&quot; &lt;1&gt;"' in v["embed_snippet"]
    html = render("page.html", v=v, qr_svg=None, oembed_url=None)
    assert "&lt;iframe src=" in html  # shown as code to copy, not rendered


def test_an_uploaded_document_gets_a_report_without_the_learners_tools():
    v = view(report("invalid"), CREDENTIAL, Links(CREDENTIAL["id"], None))
    html = render("page.html", v=v, qr_svg=None, oembed_url=None, uploaded=True)
    assert "Not valid" in html and "Add to LinkedIn" not in html and "og:image" not in html and "noindex" in html


def test_the_level_category_and_credits_show_beside_the_kind_and_the_renewal_links_the_successor():
    credential = copy.deepcopy(CREDENTIAL)
    achievement = credential["credentialSubject"]["achievement"]
    url = achievement.get("id", "https://issuer.example/public/achievements/a")
    achievement.update({"fieldOfStudy": "soft", "creditsAvailable": 0.5, "resultDescription": [{
        "id": f"{url}#level", "type": ["ResultDescription"], "name": "Competency level",
        "resultType": "RubricCriterionLevel", "requiredLevel": f"{url}#level-advanced",
        "rubricCriterionLevel": [{"id": f"{url}#level-{n}", "type": ["RubricCriterionLevel"], "name": n.capitalize(),
                                  "level": n} for n in ("foundational", "intermediate", "advanced")]}]})
    successor = f"{BASE}/c/{'N' * 22}"
    renewed = report("valid", credential)
    renewed.renewed_by = successor
    v = view(renewed, credential, LINKS)
    assert (v["level"], v["category"], v["credits"], v["renewed_by"]) == ("Advanced", "soft", 0.5, successor)
    html = render("page.html", v=v, qr_svg=endpoints.qr_svg(LINKS.page_url),
                  oembed_url=pages.oembed_link(BASE, LINKS.page_url))
    assert '<span class="level" id="level">Advanced</span>' in html and "0.5 credits" in html
    assert f'Renewed: <a href="{successor}">see the new credential</a>' in html
    assert renewed.to_json()["renewedBy"] == successor
    plain = _page(CREDENTIAL)
    assert 'id="level"' not in plain and 'id="renewed"' not in plain
    assert "renewedBy" not in report("valid").to_json()


def test_a_renewal_link_that_is_not_a_web_address_is_not_shown():
    hostile = report("valid")
    hostile.renewed_by = "javascript:alert(1)"
    assert view(hostile, CREDENTIAL, LINKS)["renewed_by"] is None

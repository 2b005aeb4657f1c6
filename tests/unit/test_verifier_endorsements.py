"""What the verifier counts as an endorsement of a credential (docs/endorsements.md), and what the page shows.

The issuer's list is served by an in-process ASGI-free transport (httpx.MockTransport) and each
endorsement's report comes from a stand-in for the checker's own verify-by-id: the rules under
test are the verifier's, which decide from a report and a document.
"""

from __future__ import annotations

import asyncio
import copy

import httpx
import pytest

from services.core.credential import check_shape, endorsement_of
from services.verifier.endorsements import Endorsements
from services.verifier.pages import Links, view
from tests.unit.verifier_fakes import CREDENTIAL, report

ISSUER_URL = "http://127.0.0.1:8001"
BASE = "http://127.0.0.1:8000"
PREFIX = "did:web:127.0.0.1%3A8001:issuers:"
ACHIEVEMENT = f"{ISSUER_URL}/public/achievements/ach_critical"
CASCADE = PREFIX + "cascade"


def credential() -> dict:
    c = copy.deepcopy(CREDENTIAL)
    c["credentialSubject"]["achievement"]["id"] = ACHIEVEMENT
    return c


def endorsement(eid: str, about: str = ACHIEVEMENT, endorser: str = PREFIX + "nusenda",
                name: str = "Nusenda Credit Union", comment: str = "We hire on it.") -> dict:
    return {"@context": CREDENTIAL["@context"], "id": f"{BASE}/c/{eid}",
            "type": ["VerifiableCredential", "EndorsementCredential"], "name": f"Endorsement of X by {name}",
            "issuer": {"id": endorser, "type": ["Profile"], "name": name}, "validFrom": "2026-12-01T00:00:00Z",
            "credentialSubject": {"id": about, "type": ["EndorsementSubject"], "endorsementComment": comment},
            "proof": [{"type": "DataIntegrityProof"}]}


def lookup(listed: list[str], documents: dict[str, tuple[str, dict | None]], status: int = 200):
    requests: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return httpx.Response(status, json={"items": [{"id": u.rsplit("/", 1)[1], "url": u, "about": "x"}
                                                      for u in listed]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    found = Endorsements(http, ISSUER_URL, BASE, PREFIX, ttl=60)
    found.requests = requests

    async def verify(credential_id: str):
        if credential_id == "Exploding0000":
            raise RuntimeError("chain down")
        status_, document = documents.get(credential_id, ("valid", None))
        return (report(status_, document) if document else None), document

    return found, verify


def run(found, verify, c=None):
    return asyncio.run(found.for_credential(c or credential(), verify))


def test_a_valid_endorsement_of_the_achievement_is_verified():
    found, verify = lookup([f"{BASE}/c/Endorse00001"], {"Endorse00001": ("valid", endorsement("Endorse00001"))})
    entries, error = run(found, verify)
    assert error is None and found.requests == [f"{ACHIEVEMENT}/endorsements"]
    assert [(e["endorser"], e["comment"], e["about"], e["verified"], e["status"]) for e in entries] == [
        ("Nusenda Credit Union", "We hire on it.", "achievement", True, "valid")]


@pytest.mark.parametrize("status, document, why", [
    ("revoked", endorsement("Endorse00001"), None),
    ("invalid", endorsement("Endorse00001"), None),
    ("pending", endorsement("Endorse00001"), None),
    ("valid", endorsement("Endorse00001", about=f"{ISSUER_URL}/public/achievements/ach_other"), "something else"),
    ("valid", endorsement("Endorse00001", endorser=CASCADE, name="Cascade & Co"), "its own"),
    ("valid", {**CREDENTIAL, "id": f"{BASE}/c/Endorse00001"}, "not an endorsement"),
])
def test_an_endorsement_that_does_not_hold_is_shown_and_never_verified(status, document, why):
    found, verify = lookup([f"{BASE}/c/Endorse00001"], {"Endorse00001": (status, document)})
    entries, _ = run(found, verify)
    assert len(entries) == 1 and entries[0]["verified"] is False
    assert entries[0]["status"] == (status if why is None else "invalid")
    if why:
        assert why in entries[0]["reason"]


def test_an_issuer_endorsement_counts_for_the_issuers_credentials():
    doc = endorsement("Endorse00002", about=CASCADE, name="Bosque Builders", endorser=PREFIX + "bosque")
    found, verify = lookup([f"{BASE}/c/Endorse00002"], {"Endorse00002": ("valid", doc)})
    entries, _ = run(found, verify)
    assert entries[0]["about"] == "issuer" and entries[0]["verified"] is True


def test_what_cannot_be_checked_fails_closed():
    found, verify = lookup([f"{BASE}/c/Exploding0000", "https://evil.example/c/Endorse00001", f"{BASE}/c/Missing00000"],
                           {})
    entries, _ = run(found, verify)
    assert [(e["status"], e["verified"]) for e in entries] == [("unavailable", False), ("invalid", False),
                                                                ("invalid", False)]
    down, verify = lookup([], {}, status=503)
    assert run(down, verify) == ([], "the issuer's list of endorsements answered 503")


def test_one_lookup_serves_concurrent_and_repeated_requests():
    found, verify = lookup([f"{BASE}/c/Endorse00001"], {"Endorse00001": ("valid", endorsement("Endorse00001"))})

    async def many():
        return await asyncio.gather(*(found.for_credential(credential(), verify) for _ in range(5)))

    results = asyncio.run(many())
    assert all(r == results[0] for r in results) and len(found.requests) == 1
    run(found, verify)
    assert len(found.requests) == 1  # reused within the TTL


def test_which_credentials_have_a_list_here():
    found, _ = lookup([], {})
    assert found.listing(credential()) == f"{ACHIEVEMENT}/endorsements"
    foreign_achievement = credential()
    foreign_achievement["credentialSubject"]["achievement"]["id"] = "https://elsewhere.example/a/1"
    assert found.listing(foreign_achievement) == f"{ISSUER_URL}/issuers/cascade/endorsements"
    foreign = credential()
    foreign["issuer"]["id"] = "did:web:elsewhere.example"
    assert found.listing(foreign) is None
    assert found.listing(endorsement("Endorse00001")) is None  # an endorsement is not itself endorsed
    assert Endorsements(None, ISSUER_URL, BASE, PREFIX).listing(credential()) is None


def test_an_endorsement_is_an_open_badge_kind_of_its_own():
    doc = endorsement("Endorse00001")
    assert check_shape(doc) == "ob3"
    assert endorsement_of(doc) == {"about": ACHIEVEMENT, "comment": "We hire on it."}
    assert endorsement_of(CREDENTIAL) is None


def test_the_page_shows_verified_endorsements_first_and_the_others_for_what_they_are():
    r = report()
    r.endorsements = [
        {"endorser": "Bosque <b>Builders</b>", "comment": "Meh.", "url": f"{BASE}/c/Endorse00002", "verified": False,
         "status": "revoked", "about": "issuer", "reason": "Revoked."},
        {"endorser": "Nusenda Credit Union", "comment": "We hire on it.", "url": f"{BASE}/c/Endorse00001",
         "verified": True, "status": "valid", "about": "achievement"},
        {"endorser": "Evil", "comment": None, "url": "javascript:alert(1)", "verified": False, "status": "invalid"},
    ]
    v = view(r, credential(), Links(f"{BASE}/c/AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKlMnOpQrStUv"))
    assert [(e["endorser"], e["words"], e["verified"]) for e in v["endorsements"]] == [
        ("Nusenda Credit Union", "checked", True), ("Bosque <b>Builders</b>", "withdrawn (revoked)", False),
        ("Evil", "not valid", False)]
    assert v["endorsements"][2]["url"] is None  # never a javascript: link
    assert v["endorsed_by"] == ["Nusenda Credit Union"]
    assert v["endorsement"] is None


def test_an_endorsements_own_page_says_what_it_endorses():
    doc = endorsement("Endorse00001")
    r = report(credential=doc)
    r.credential["name"] = doc["name"]
    v = view(r, doc, Links(f"{BASE}/c/Endorse00001", "Endorse00001"))
    assert v["name"] == "Endorsement of X by Nusenda Credit Union"
    assert v["endorsement"] == {"about_url": ACHIEVEMENT, "about": ACHIEVEMENT, "comment": "We hire on it."}
    assert v["linkedin_url"] is None and v["endorsements"] == []

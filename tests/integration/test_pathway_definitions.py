"""Pathway definitions over the issuer API: ``requires`` checked, stored, and never issued by hand.

On SQLite and PostgreSQL built by the migrations (docs/pathways.md, "Defining a pathway").
"""

from __future__ import annotations

from tests.integration.issuer_support import auth, create_achievement, create_issuer


def _nano(client, key, name):
    return create_achievement(client, key, name=name, achievementType="Competency")["id"]


def _pathway(client, key, requires, name="Customer Empathy"):
    return client.post("/api/v1/achievements", json={
        "name": name, "description": "Stacks its nano-credentials.", "criteria": {"narrative": "Hold them all."},
        "achievementType": "MicroCredential", "requires": requires}, headers=auth(key))


def test_all_of_and_k_of_n_are_stored_in_normal_form_and_nest(client):
    key = create_issuer(client)["api_key"]
    a, b, c = (_nano(client, key, n) for n in ("Active Listening", "Perspective Taking", "Compassion"))
    r = _pathway(client, key, {"all_of": [a, b]})
    assert r.status_code == 201, r.text
    micro = r.json()
    assert micro["pathway"] is True and micro["requires"] == {"k": 2, "of": [a, b]}
    r = _pathway(client, key, {"k_of_n": {"k": 1, "of": [micro["id"], c]}}, name="Service Excellence")
    assert r.status_code == 201, r.text
    assert r.json()["requires"] == {"k": 1, "of": [micro["id"], c]}
    listed = {x["id"]: x for x in client.get("/api/v1/achievements", headers=auth(key)).json()}
    assert listed[a]["pathway"] is False and listed[a]["requires"] is None


def test_bad_requirements_are_refused_and_nothing_is_stored(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Compassion")
    cases = [
        ({"all_of": [a, a]}, 422, "duplicate_requirement"),
        ({"k_of_n": {"k": 3, "of": [a, b]}}, 422, "invalid_request"),
        ({"k_of_n": {"k": 0, "of": [a, b]}}, 422, "invalid_request"),
        ({"all_of": []}, 422, "invalid_request"),
        ({"all_of": [a], "k_of_n": {"k": 1, "of": [b]}}, 422, "invalid_request"),
        ({"all_of": ["ach_doesnotexist"]}, 404, "unknown_achievement"),
        ({"any_of": [a]}, 422, "invalid_request"),
    ]
    before = len(client.get("/api/v1/achievements", headers=auth(key)).json())
    for requires, status, code in cases:
        r = _pathway(client, key, requires)
        assert r.status_code == status, (requires, r.text)
        assert r.json()["error"]["code"] == code, (requires, r.text)
    assert len(client.get("/api/v1/achievements", headers=auth(key)).json()) == before


def test_another_issuers_achievement_is_404_by_id_and_by_url(client):
    ours = create_issuer(client, "lakeside")["api_key"]
    theirs = create_issuer(client, "hillcrest")["api_key"]
    foreign = _nano(client, theirs, "Their Badge")
    r = _pathway(client, ours, {"all_of": [foreign]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_achievement"
    assert foreign not in r.text or "for this issuer" in r.text
    url = f"{client.settings.issuer_url}/public/achievements/{foreign}"
    our_did = client.get("/api/v1/issuer", headers=auth(ours)).json()["did"]
    r = _pathway(client, ours, {"all_of": [{"achievement": url, "issuer": our_did}]})  # passed off as ours
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_achievement"
    # isolation: the other issuer's pathways are not listed here
    _pathway(client, theirs, {"all_of": [foreign]})
    assert all(not x["pathway"] for x in client.get("/api/v1/achievements", headers=auth(ours)).json())


def test_an_external_component_is_named_by_url_and_issuer_did(client):
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    r = _pathway(client, key, {"all_of": [a, {"achievement": "https://other.example/achievements/7",
                                              "issuer": "did:web:other.example"}]})
    assert r.status_code == 201, r.text
    assert r.json()["requires"]["of"] == [a, "ext:did:web:other.example https://other.example/achievements/7"]


def test_cycles_are_refused_naming_the_cycle(client):
    key = create_issuer(client)["api_key"]
    a, b = _nano(client, key, "Active Listening"), _nano(client, key, "Compassion")
    micro = _pathway(client, key, {"all_of": [a, b]}).json()["id"]
    stacked = _pathway(client, key, {"all_of": [micro]}, name="Stacked").json()["id"]
    # a (no credentials yet) may become a pathway — but not one that requires what requires it
    r = client.put(f"/api/v1/achievements/{a}/requires", json={"all_of": [stacked]}, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "pathway_cycle", r.text
    assert f"{a} → {stacked} → {micro} → {a}" in r.json()["error"]["message"]
    r = client.put(f"/api/v1/achievements/{a}/requires", json={"all_of": [a]}, headers=auth(key))
    assert r.status_code == 422 and r.json()["error"]["code"] == "pathway_cycle"
    assert client.get(f"/api/v1/achievements/{a}", headers=auth(key)).json()["requires"] is None
    r = client.put(f"/api/v1/achievements/{a}/requires", json={"all_of": [b]}, headers=auth(key))
    assert r.status_code == 200 and r.json()["requires"] == {"k": 1, "of": [b]}


def test_a_pathway_is_never_issued_by_hand(client):
    key = create_issuer(client)["api_key"]
    a = _nano(client, key, "Active Listening")
    micro = _pathway(client, key, {"all_of": [a]}).json()["id"]
    r = client.post("/api/v1/credentials", json={"achievement_id": micro,
                                                 "recipient": {"name": "Ada", "email": "ada@example.org"}},
                    headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "pathway_awarded_automatically", r.text
    r = client.post("/api/v1/credentials/batch", json={"achievement_id": micro,
                                                       "recipients": [{"name": "Ada", "email": "ada@example.org"}]},
                    headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] == "pathway_awarded_automatically", r.text
    # once a credential of an achievement exists its requirement cannot change
    r = client.post("/api/v1/credentials", json={"achievement_id": a,
                                                 "recipient": {"name": "Ada", "email": "ada@example.org"}},
                    headers=auth(key))
    assert r.status_code == 201
    r = client.put(f"/api/v1/achievements/{a}/requires", json={"all_of": [micro]}, headers=auth(key))
    assert r.status_code == 409 and r.json()["error"]["code"] in ("achievement_in_use", "pathway_cycle")

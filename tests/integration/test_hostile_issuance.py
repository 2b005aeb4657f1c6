"""Hostile input at the issuer API (in process, on the migrated databases): a clear 422, nothing stored.

Dates outside 1900-9899, text with control or bidirectional characters, JSON beyond the
safejson limits — for single issuance, batches (refused whole, no batch row, no plain
email kept), issuers, achievements, revocation and key rotation.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from services.issuer.models import Achievement, Batch, Credential, IdempotencyRecord, Issuer
from tests.integration.issuer_support import ADMIN, ACHIEVEMENT, auth, count, create_achievement, create_issuer, \
    issue, issuer_client

BAD_DATES = ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "0500-01-01T00:00:00Z", "1899-12-31T23:59:59Z",
             "9999-12-31T23:59:59Z", "9999-12-31T23:30:00-01:00"]
BAD_TEXT = {"C1 NEL": "Ada\u0085Lovelace", "C1 CSI": "Ada\u009b31m", "RLO": "Ada \u202egnp.exe",
            "LRI": "\u2066Ada\u2069", "RLM": "Ada\u200f", "ALM": "Ada\u061c", "NUL": "Ada\x00", "ESC": "Ada\x1b[2J",
            "tab in a name": "Ada\tLovelace", "newline in a name": "Ada\nLovelace"}


@pytest.fixture
def client(database_url, tmp_path):
    with issuer_client(database_url, tmp_path, run_batches=False) as c:
        c.database_url = database_url
        yield c


@pytest.fixture
def lakeside(client):
    issuer = create_issuer(client)
    achievement = create_achievement(client, issuer["api_key"])
    return issuer["api_key"], achievement["id"]


def _refused(r, field: str | None = None) -> dict:
    assert r.status_code == 422, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] in ("invalid_request", "invalid_json") and error["message"]
    if field:
        assert field in error["message"], error
    return error


def _nothing_in_the_database_file(client, needle: str) -> None:
    if client.database_url.startswith("sqlite:///"):
        data = Path(client.database_url.removeprefix("sqlite:///")).read_bytes()
        assert needle.encode() not in data, f"{needle} is stored"


# -- dates ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("when", BAD_DATES)
def test_a_credential_dated_outside_1900_to_9899_is_a_422(client, lakeside, when):
    key, achievement_id = lakeside
    r = client.post("/api/v1/credentials", headers=auth(key), json={
        "achievement_id": achievement_id, "recipient": {"name": "Ada", "email": "ada@example.org"}, "valid_from": when})
    assert "1900-01-01" in _refused(r, "valid_from")["message"]
    assert count(client, Credential) == 0


@pytest.mark.parametrize("when", BAD_DATES)
def test_a_batch_dated_outside_1900_to_9899_is_refused_before_anything_is_stored(client, lakeside, when):
    key, achievement_id = lakeside
    r = client.post("/api/v1/credentials/batch", headers=auth(key), json={
        "achievement_id": achievement_id, "valid_from": when,
        "recipients": [{"name": "Ada", "email": "ada.batch.date@example.org"}]})
    _refused(r, "valid_from")
    assert count(client, Batch) == 0
    _nothing_in_the_database_file(client, "ada.batch.date@example.org")


def test_dates_at_the_edges_of_the_range_are_signed_with_four_digit_years(client, lakeside):
    key, achievement_id = lakeside
    first = issue(client, key, achievement_id, email="a@example.org", valid_from="1900-01-01T00:00:00Z")
    assert first["credential"]["validFrom"] == "1900-01-01T00:00:00Z"
    last = issue(client, key, achievement_id, email="b@example.org", valid_from="9899-12-31T23:59:59Z")
    # The achievement's validity (730 days) still fits in a datetime.
    assert last["credential"]["validFrom"] == "9899-12-31T23:59:59Z" and last["credential"]["validUntil"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1899-01-01T00:00:00Z"])
def test_a_compromise_time_outside_the_range_is_a_422(client, lakeside, when):
    key, _ = lakeside
    r = client.post("/api/v1/issuer/signing-keys/rotate", headers=auth(key),
                    json={"compromised": True, "compromised_at": when})
    _refused(r, "compromised_at")
    me = client.get("/api/v1/issuer", headers=auth(key)).json()
    assert [k["state"] for k in me["signing_keys"]] == ["active"]


# -- text people read -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BAD_TEXT)
def test_a_recipient_name_with_control_or_bidi_characters_is_a_422(client, lakeside, name):
    key, achievement_id = lakeside
    r = client.post("/api/v1/credentials", headers=auth(key), json={
        "achievement_id": achievement_id, "recipient": {"name": BAD_TEXT[name], "email": "ada@example.org"}})
    _refused(r, "recipient.name")
    assert count(client, Credential) == 0


@pytest.mark.parametrize("field,value", [
    ("recipient", {"name": "Ada", "email": "ada\u202e@example.org"}),
    ("evidence", [{"name": "Capstone\u202e"}]), ("evidence", [{"narrative": "Did it.\u0085"}]),
    ("evidence", [{"description": "x\u2067y"}]), ("evidence", [{"id": "https://example.org/\u202eevil"}]),
    ("evidence", [{"genre": "Essay\x1b"}]),
])
def test_other_credential_text_with_control_or_bidi_characters_is_a_422(client, lakeside, field, value):
    key, achievement_id = lakeside
    body = {"achievement_id": achievement_id, "recipient": {"name": "Ada", "email": "ada@example.org"}, field: value}
    _refused(client.post("/api/v1/credentials", headers=auth(key), json=body), field)
    assert count(client, Credential) == 0


def test_multi_line_text_keeps_its_tabs_and_newlines(client, lakeside):
    key, achievement_id = lakeside
    narrative = "Line one.\n\tIndented line two.\r\nLine three."
    body = issue(client, key, achievement_id, evidence=[{"name": "Capstone", "narrative": narrative}])
    assert body["credential"]["evidence"][0]["narrative"] == narrative
    achievement = create_achievement(client, key, description="First paragraph.\n\nSecond paragraph.",
                                     criteria={"narrative": "1.\tRead.\n2.\tWrite."})
    assert achievement["description"] == "First paragraph.\n\nSecond paragraph."


@pytest.mark.parametrize("field,value", [
    ("name", "Critical\u202eThinking"), ("name", "Critical\u0085Thinking"), ("name", "Critical\nThinking"),
    ("description", "Weighs evidence.\u2066"), ("description", "Weighs\u009bevidence."),
    ("criteria", {"narrative": "Passed\u202d."}), ("criteria", {"narrative": "Passed\x07."}),
    ("image_caption", "A\u200fB"), ("tags", ["ok", "bad\u202e"]),
    ("alignment", [{"targetName": "X\u202e", "targetUrl": "https://example.org/x"}]),
    ("alignment", [{"targetName": "X", "targetUrl": "https://example.org/x", "targetDescription": "Y\u0085"}]),
])
def test_achievement_text_with_control_or_bidi_characters_is_a_422(client, lakeside, field, value):
    key, _ = lakeside
    r = client.post("/api/v1/achievements", headers=auth(key), json={**ACHIEVEMENT, field: value})
    _refused(r, field)
    assert count(client, Achievement) == 1  # the fixture's own


@pytest.mark.parametrize("name", ["Lakeside\u202e College", "Lakeside\u0085College", "Lakeside\nCollege"])
def test_an_issuer_name_with_control_or_bidi_characters_is_a_422(client, name):
    r = client.post("/api/v1/issuers", headers=auth(ADMIN), json={
        "name": name, "slug": "lakeside", "url": "https://lakeside.example.edu", "email": "r@lakeside.example.edu"})
    _refused(r, "name")
    assert count(client, Issuer) == 0


@pytest.mark.parametrize("reason", ["issued in error\u202e", "fraud\u0085", "a\x00b", "two\nlines"])
def test_a_revocation_reason_with_control_or_bidi_characters_is_a_422(client, lakeside, reason):
    key, achievement_id = lakeside
    credential = issue(client, key, achievement_id)
    r = client.post(f"/api/v1/credentials/{credential['id']}/revoke", headers=auth(key), json={"reason": reason})
    _refused(r, "reason")
    assert client.get(f"/api/v1/credentials/{credential['id']}", headers=auth(key)).json()["revoked_at"] is None


# -- batches ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad_row", [
    {"name": "Mallory \u202eevil", "email": "mallory@example.org"},
    {"name": "Mallory\u0085", "email": "mallory@example.org"},
    {"name": "Mallory\tX", "email": "mallory@example.org"},
    {"name": "Mallory", "email": "mallory\u2066@example.org"},
    {"name": "Mallory", "email": "mallory@example.org", "evidence": [{"narrative": "ok\u202e"}]},
])
def test_a_batch_with_one_hostile_row_is_refused_whole_and_stores_nothing(client, lakeside, bad_row):
    key, achievement_id = lakeside
    rows = [{"name": f"Learner {i}", "email": f"learner{i}.hostile@example.org"} for i in range(5)]
    rows.insert(3, bad_row)
    r = client.post("/api/v1/credentials/batch", headers={**auth(key), "Idempotency-Key": "batch-1"},
                    json={"achievement_id": achievement_id, "recipients": rows})
    error = _refused(r, "recipients")
    assert "row 3" in error["message"] and "U+" in error["message"]
    assert count(client, Batch) == 0 and count(client, Credential) == 0 and count(client, IdempotencyRecord) == 0
    for row in rows:
        _nothing_in_the_database_file(client, row["email"])


def test_a_batch_with_an_ordinary_bad_row_still_reports_it_per_row(client, lakeside):
    key, achievement_id = lakeside
    rows = [{"name": "Ada", "email": "ada@example.org"}, {"name": "Bad", "email": "nope"},
            {"name": "Line one\nline two", "email": "x@example.org", "evidence": [{"narrative": "a\nb"}]}]
    rows[2]["name"] = "Grace"  # multi-line evidence is fine; only the narrative has a newline
    r = client.post("/api/v1/credentials/batch", headers=auth(key), json={"achievement_id": achievement_id,
                                                                         "recipients": rows})
    assert r.status_code == 202, r.text
    assert [e["row"] for e in r.json()["errors"]] == [1]


# -- JSON beyond the limits ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,why", [
    (b'{"achievement_id": "x", "recipient": ' + b'{"a":' * 300 + b"1" + b"}" * 300 + b"}", "deeper than 64"),
    (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "deeper than 64"),
    (b'{"achievement_id": "x", "recipient": {"name": "Ada", "email": "a@b.org"}, "n": 1000000000000000000000000000000}',
     "beyond"),
    (b'{"achievement_id": "x", "recipient": {"name": "\\ud800", "email": "a@b.org"}}', "lone surrogate"),
])
def test_hostile_json_at_the_issuer_is_a_422(client, lakeside, raw, why):
    key, _ = lakeside
    for path in ("/api/v1/credentials", "/api/v1/credentials/batch", "/api/v1/achievements"):
        r = client.post(path, content=raw, headers={**auth(key), "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json" and why in r.json()["error"]["message"]
    assert count(client, Credential) == 0 and count(client, Batch) == 0
    with client.sessions() as s:
        assert s.scalars(select(Achievement)).all()[0].name == ACHIEVEMENT["name"]

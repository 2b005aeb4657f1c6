"""The OB 3.0 shape the verifier relies on before doing any work."""

from __future__ import annotations

import copy

import pytest

from services.core.credential import CONTEXTS, CredentialFormatError, check_shape, summary

GOOD = {
    "@context": list(CONTEXTS),
    "id": "http://127.0.0.1:8000/c/abc",
    "type": ["VerifiableCredential", "OpenBadgeCredential"],
    "issuer": {"id": "did:web:issuer.example:issuers:cc", "type": ["Profile"], "name": "Cascade CC"},
    "validFrom": "2026-11-01T10:00:00Z",
    "credentialSubject": {
        "type": ["AchievementSubject"], "name": "Ada Lovelace",
        "achievement": {"id": "urn:uuid:1", "type": ["Achievement"], "name": "Critical Thinking",
                        "description": "Thinks critically.", "criteria": {"narrative": "Did it."}},
    },
    "proof": {"type": "DataIntegrityProof"},
}


def test_a_good_credential_passes_and_summarises():
    check_shape(GOOD)
    assert summary(GOOD) == {"id": GOOD["id"], "name": "Critical Thinking", "issuer": "Cascade CC",
                             "issuerId": "did:web:issuer.example:issuers:cc", "recipient": "Ada Lovelace",
                             "validFrom": "2026-11-01T10:00:00Z", "validUntil": None}


def _without(path: str) -> dict:
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    del node[last]
    return doc


@pytest.mark.parametrize("path", ["@context", "type", "id", "issuer", "validFrom", "credentialSubject",
                                  "credentialSubject.achievement", "credentialSubject.achievement.name",
                                  "credentialSubject.achievement.criteria", "proof"])
def test_each_required_part_is_required(path):
    with pytest.raises(CredentialFormatError):
        check_shape(_without(path))


@pytest.mark.parametrize("change", [
    {"@context": list(reversed(CONTEXTS))},
    {"@context": [*CONTEXTS, {"@vocab": "https://evil.example/#"}]},
    {"@context": [CONTEXTS[0]]},
    {"type": ["VerifiableCredential"]},
    {"validFrom": "yesterday"},
    {"validUntil": "2026-13-01"},
    {"issuer": {"name": "no id"}},
])
def test_malformed_values_are_refused(change):
    with pytest.raises(CredentialFormatError):
        check_shape({**GOOD, **change})


def test_not_an_object_and_absurd_nesting_are_refused():
    with pytest.raises(CredentialFormatError):
        check_shape(["not", "an", "object"])
    deep: dict = {}
    node = deep
    for _ in range(50):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(CredentialFormatError):
        check_shape({**GOOD, "evidence": deep})


def test_a_credential_with_thousands_of_objects_is_refused_before_canonicalisation():
    doc = copy.deepcopy(GOOD)
    doc["credentialSubject"]["achievement"]["alignment"] = [{"type": ["Alignment"]} for _ in range(2_500)]
    with pytest.raises(CredentialFormatError, match="objects"):
        check_shape(doc)

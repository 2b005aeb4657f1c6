"""check_shape for Open Badges 3.0 credentials of other platforms: which contexts and types pass.

Whatever passes must also canonicalise in strict safe mode (the rest of the format check),
so each accepted variant is canonicalised here too.
"""

from __future__ import annotations

import copy

import pytest

from services.core import jsonld
from services.core.credential import (CONTEXTS, OB_CONTEXT, OB_CONTEXTS, VC_CONTEXT, CredentialFormatError,
                                      bundled_context_urls, check_shape, summary)

OB = "https://purl.imsglobal.org/spec/ob/v3p0/"
OB302 = OB + "context-3.0.2.json"
EXTENSIONS = OB + "extensions.json"
DATA_INTEGRITY = "https://w3id.org/security/data-integrity/v2"

BASE = {
    "@context": list(CONTEXTS),
    "id": "urn:uuid:2f7e9a4c-7d3b-4a53-9d2e-6b1f0c5e8a11",
    "type": ["VerifiableCredential", "OpenBadgeCredential"],
    "issuer": {"id": "did:web:badges.other.example", "type": ["Profile"], "name": "Other Platform"},
    "validFrom": "2026-10-01T09:00:00Z",
    "credentialSubject": {
        "type": ["AchievementSubject"], "name": "Grace Hopper",
        "achievement": {"id": "https://badges.other.example/achievements/7", "type": ["Achievement"],
                        "name": "Compilers", "description": "Wrote one.", "criteria": {"narrative": "Shipped it."}},
    },
    "proof": {"type": "DataIntegrityProof"},
}
REVOCATION_LIST = {"id": "https://badges.other.example/revocations/3", "type": "1EdTechRevocationList"}


def variant(**changes) -> dict:
    doc = copy.deepcopy(BASE)
    doc.update(copy.deepcopy(changes))
    return doc


def canonicalises(doc: dict) -> bool:
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    return bool(jsonld.canonicalize(unsigned))


ACCEPTED = {
    "ours": variant(),
    "ob 3.0.2": variant(**{"@context": [VC_CONTEXT, OB302]}),
    "AchievementCredential": variant(type=["VerifiableCredential", "AchievementCredential"]),
    "both credential types": variant(type=["VerifiableCredential", "OpenBadgeCredential", "AchievementCredential"]),
    "OB first among extras": variant(**{"@context": [VC_CONTEXT, EXTENSIONS, OB_CONTEXT]}),
    "1EdTech revocation list": variant(**{"@context": [VC_CONTEXT, OB_CONTEXT, EXTENSIONS]},
                                       credentialStatus=REVOCATION_LIST),
    "ob 3.0.2 with revocation list": variant(**{"@context": [VC_CONTEXT, OB302, EXTENSIONS]},
                                             credentialStatus=REVOCATION_LIST),
    "data integrity context too": variant(**{"@context": [VC_CONTEXT, OB_CONTEXT, DATA_INTEGRITY]}),
    "issuer as a string": variant(issuer="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_ob3_credentials_of_other_platforms_pass_and_canonicalise(name):
    doc = ACCEPTED[name]
    check_shape(doc)
    assert canonicalises(doc)
    assert summary(doc)["name"] == "Compilers"


def test_every_bundled_ob3_context_is_recognised_and_the_extensions_are_bundled():
    assert set(OB_CONTEXTS) <= bundled_context_urls()
    assert EXTENSIONS in bundled_context_urls()


@pytest.mark.parametrize("context,why", [
    ("https://www.w3.org/ns/credentials/v2", "must be a list"),
    ([], "must be a list"),
    ({"@vocab": "https://evil.example/#"}, "must be a list"),
    ([VC_CONTEXT, OB_CONTEXT, {"@vocab": "https://evil.example/#"}], "not inline context objects"),
    ([VC_CONTEXT, {"name": "https://evil.example/name"}, OB_CONTEXT], "not inline context objects"),
    ([VC_CONTEXT, OB_CONTEXT, None], "not inline"),
    ([OB_CONTEXT, VC_CONTEXT], "must start with the VC 2.0 context"),
    ([VC_CONTEXT], "must include an Open Badges 3.0 context"),
    ([VC_CONTEXT, EXTENSIONS], "must include an Open Badges 3.0 context"),
    ([VC_CONTEXT, OB302, OB_CONTEXT], "one Open Badges 3.0 context, not several"),
    ([VC_CONTEXT, OB_CONTEXT, OB_CONTEXT], "twice"),
    ([VC_CONTEXT, VC_CONTEXT, OB_CONTEXT], "twice"),
    ([VC_CONTEXT, OB_CONTEXT, "https://evil.example/context.json"], "'https://evil.example/context.json'"),
    ([VC_CONTEXT, OB + "context-3.0.4.json"], "does not know"),
    ([VC_CONTEXT, "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json#"], "does not know"),
    ([VC_CONTEXT, OB_CONTEXT, "https://w3id.org/citizenship/v4rc1"], "never fetched"),
    ([VC_CONTEXT, OB + "context.json"], "3.0.0 context, written for VC 1.1"),
    ([VC_CONTEXT, OB + "context-3.0.1.json"], "3.0.1 context, written for VC 1.1"),
    ([VC_CONTEXT, OB_CONTEXT, "https://www.w3.org/2018/credentials/v1"], "VC 1.1 context"),
    (["https://www.w3.org/2018/credentials/v1", OB + "context.json"], "must start with the VC 2.0"),
])
def test_contexts_that_are_not_an_ob3_vc2_list_of_bundled_urls_are_refused(context, why):
    with pytest.raises(CredentialFormatError, match=why.replace(".", r"\.").replace("(", r"\(")):
        check_shape(variant(**{"@context": context}))


def test_the_vc11_era_ob_contexts_really_cannot_be_combined_with_vc2():
    # Why check_shape names them: canonicalisation would refuse them anyway, less clearly.
    for url in (OB + "context.json", OB + "context-3.0.1.json"):
        doc = variant(**{"@context": [VC_CONTEXT, url]})
        with pytest.raises(jsonld.JsonLdDocumentError, match="protected term"):
            canonicalises(doc)


def test_an_unbundled_context_is_named_even_when_long_or_odd():
    url = "https://evil.example/" + "x" * 300 + "\u202e"
    with pytest.raises(CredentialFormatError) as caught:
        check_shape(variant(**{"@context": [VC_CONTEXT, OB_CONTEXT, url]}))
    message = str(caught.value)
    assert "https://evil.example/xxx" in message and "\u202e" not in message and len(message) < 400


@pytest.mark.parametrize("types", [
    ["VerifiableCredential"],
    ["OpenBadgeCredential"],
    ["AchievementCredential"],
    "VerifiableCredential",
    [],
])
def test_types_must_be_a_vc_and_an_open_badge(types):
    with pytest.raises(CredentialFormatError, match="type must include"):
        check_shape(variant(type=types))


def test_an_endorsement_credential_must_carry_an_endorsement_subject():
    # An EndorsementCredential is an Open Badge kind of its own (docs/endorsements.md): an achievement
    # subject under that type is refused, not read as a badge.
    with pytest.raises(CredentialFormatError, match="EndorsementSubject"):
        check_shape(variant(type=["VerifiableCredential", "EndorsementCredential"]))


def test_a_revocation_list_entry_without_the_extensions_context_is_caught_by_safe_mode():
    doc = variant(credentialStatus=REVOCATION_LIST)
    check_shape(doc)  # the shape does not look inside credentialStatus …
    with pytest.raises(jsonld.UnsafeDocumentError):
        canonicalises(doc)  # … but its type is defined by no context, so the format check fails


def test_the_rest_of_the_shape_still_applies_to_other_platforms():
    for path in (("credentialSubject", "achievement", "criteria"), ("validFrom",), ("proof",)):
        doc = copy.deepcopy(ACCEPTED["1EdTech revocation list"])
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        with pytest.raises(CredentialFormatError):
            check_shape(doc)
    with pytest.raises(CredentialFormatError, match="single text value"):
        check_shape(variant(name={"@value": "Shown", "@language": "en"}))
    big = variant()
    big["credentialSubject"]["achievement"]["tag"] = ["t"] * 65
    with pytest.raises(CredentialFormatError, match="at most 64"):
        check_shape(big)

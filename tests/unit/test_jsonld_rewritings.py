"""What is shown is what was signed: JSON-LD rewritings that keep the graph are refused.

The signature covers the RDF graph; the verifier, the page and the CLI read JSON keys. Each
rewriting below leaves the graph — and so the signature — exactly as signed (the test proves
it with stock pyld, no safe mode), while what a JSON reader sees changes: a name shown as
"Mallory Impostor", an expired credential shown as never expiring, a status nobody checks.
Every one must fail canonicalisation with a message saying where, and so fail ``format``.
Benign differences (key order, whitespace, escapes, a single value for a one-item array)
must still verify.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyld import jsonld as pyld

from services.core import dataintegrity, multiformats
from services.core.credential import CredentialFormatError, check_shape, summary
from services.core.jsonld import UnsafeDocumentError, bundled_contexts, canonicalize
from services.verifier.checker import document_verdict

REPO = Path(__file__).resolve().parents[2]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
MULTIKEY = multiformats.encode_public_key(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
VERIFICATION_METHOD = f"did:key:{MULTIKEY}#{MULTIKEY}"
VC = "https://www.w3.org/2018/credentials#"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
MALLORY = "Mallory Impostor"


def unsigned() -> dict[str, Any]:
    document = json.loads((REPO / "tests" / "interop" / "ob3-credential.json").read_text())
    document["validUntil"] = "2025-01-01T00:00:00Z"  # expired: a reader must see that
    document["credentialSubject"]["name"] = "Zoë Ñúñez"
    document["evidence"] = [{"id": "https://lakeside.example.edu/evidence/1", "type": ["Evidence"],
                             "name": "Capstone essay", "narrative": "Graded by two assessors."}]
    return document


@functools.cache
def _signed() -> str:
    return json.dumps(dataintegrity.sign(unsigned(), KEY, VERIFICATION_METHOD, "2026-11-22T10:00:00Z"))


def signed() -> dict[str, Any]:
    return json.loads(_signed())


def stock_nquads(document: dict[str, Any]) -> str:
    """Stock pyld, no safe mode, no strict check, none of our code: the graph as signed."""
    documents = bundled_contexts()
    unsecured = {key: value for key, value in document.items() if key != "proof"}

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(documents[url])}

    return pyld.normalize(unsecured, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                      "documentLoader": loader})


def at(document: dict[str, Any], *path: Any) -> Any:
    for step in path:
        document = document[step]
    return document


def wrap(*path: Any) -> Callable[[dict], None]:
    """``{"@index": "Mallory Impostor", "@set": <the real value>}``: pyld drops the @index."""
    *parents, last = path

    def change(document: dict[str, Any]) -> None:
        parent = at(document, *parents)
        parent[last] = {"@index": MALLORY, "@set": parent[last]}
    return change


def value_object(*path: Any, **extra: str) -> Callable[[dict], None]:
    *parents, last = path

    def change(document: dict[str, Any]) -> None:
        parent = at(document, *parents)
        parent[last] = {"@value": parent[last], **{f"@{k}": v for k, v in extra.items()}}
    return change


def rename(path: tuple, old: str, new: str, typed: str | None = None) -> Callable[[dict], None]:
    """Move a value to another key (an IRI, a compact IRI, a keyword), optionally as a typed value."""
    def change(document: dict[str, Any]) -> None:
        parent = at(document, *path)
        value = parent.pop(old)
        parent[new] = {"@value": value, "@type": typed} if typed else value
    return change


def extra_context(context: dict[str, Any], then: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(document: dict[str, Any]) -> None:
        document["@context"] = [*document["@context"], context]
        then(document)
    return change


def graph_wrapped(document: dict[str, Any]) -> None:
    body = {key: document.pop(key) for key in list(document) if key not in ("@context", "proof")}
    document["@graph"] = [body]


def nested_context(document: dict[str, Any]) -> None:
    subject = document["credentialSubject"]
    subject["@context"] = {"displayName": "https://schema.org/name"}
    subject["displayName"] = subject.pop("name")


def nested_name(document: dict[str, Any]) -> None:
    subject = document["credentialSubject"]
    subject["@nest"] = {"name": subject.pop("name")}


def included_image(document: dict[str, Any]) -> None:
    achievement = document["credentialSubject"]["achievement"]
    image = achievement["image"]
    achievement["image"] = image["id"]  # an @id-typed term: the string is the same IRI
    document["@included"] = [{"id": image["id"], "type": "Image"}]


def reversed_evidence(document: dict[str, Any]) -> None:
    evidence = document.pop("evidence")[0]
    evidence["@reverse"] = {"https://www.w3.org/2018/credentials#evidence": {"id": document["id"]}}
    document["@included"] = [evidence]


def blank_node_id(document: dict[str, Any]) -> None:
    document["credentialSubject"]["id"] = "_:subject"


def iri_type(document: dict[str, Any]) -> None:
    document["credentialSubject"]["achievement"]["image"]["type"] = "https://purl.imsglobal.org/spec/vc/ob/vocab.html#Image"


# (rewriting, where the message must point, a word it must contain)
REWRITINGS: dict[str, tuple[Callable[[dict], None], str, str]] = {
    "recipient name in @index/@set": (wrap("credentialSubject", "name"), "credentialSubject.name", "'@index'"),
    "issuer name in @index/@set": (wrap("issuer", "name"), "issuer.name", "'@index'"),
    "achievement name in @index/@set": (wrap("credentialSubject", "achievement", "name"),
                                        "credentialSubject.achievement.name", "'@index'"),
    "criteria narrative in @index/@set": (wrap("credentialSubject", "achievement", "criteria", "narrative"),
                                          "credentialSubject.achievement.criteria.narrative", "'@index'"),
    "alignment targetName in @index/@set": (wrap("credentialSubject", "achievement", "alignment", 0, "targetName"),
                                            "credentialSubject.achievement.alignment.targetName", "'@index'"),
    "evidence name in @index/@set": (wrap("evidence", 0, "name"), "evidence.name", "'@index'"),
    "the whole evidence in @index/@set": (wrap("evidence"), "evidence", "'@index'"),
    "recipient name as @value": (value_object("credentialSubject", "name"), "credentialSubject.name", "'@value'"),
    "recipient name as @value with @index": (value_object("credentialSubject", "name", index=MALLORY),
                                             "credentialSubject.name", "'@value'"),
    "validUntil as a typed @value": (value_object("validUntil", type=XSD_DATETIME), "validUntil", "'@value'"),
    "validUntil under its IRI": (rename((), "validUntil", VC + "validUntil", XSD_DATETIME), "the top-level object",
                                 "is an IRI"),
    "validFrom under its IRI": (rename((), "validFrom", VC + "validFrom", XSD_DATETIME), "the top-level object",
                                "'validFrom'"),
    "credentialStatus under its IRI": (rename((), "credentialStatus", VC + "credentialStatus"), "the top-level object",
                                       "'credentialStatus'"),
    "recipient name under its IRI": (rename(("credentialSubject",), "name", "https://schema.org/name"),
                                     "credentialSubject", "'name'"),
    "validUntil as a compact IRI": (extra_context({"cred": VC}, rename((), "validUntil", "cred:validUntil",
                                                                        XSD_DATETIME)),
                                    "the top-level object", "'cred:validUntil'"),
    "a keyword alias": (extra_context({"i": "@index", "s": "@set"}, lambda d: d["credentialSubject"].update(
        name={"i": MALLORY, "s": d["credentialSubject"]["name"]})), "credentialSubject.name", "keyword @index"),
    "wrapped in @graph": (graph_wrapped, "the top-level object", "'@graph'"),
    "@id instead of id": (rename((), "id", "@id"), "the top-level object", "'@id'"),
    "@type instead of type": (rename(("issuer",), "type", "@type"), "issuer", "'@type'"),
    "a nested @context": (nested_context, "credentialSubject", "@context"),
    "a name under @nest": (nested_name, "credentialSubject", "'@nest'"),
    "a node in @included": (included_image, "the top-level object", "'@included'"),
    "a property written backwards with @reverse": (reversed_evidence, "the top-level object", "'@included'"),
    "a blank-node id": (blank_node_id, "credentialSubject", "blank node"),
    "a type spelled as its IRI": (iri_type, "credentialSubject.achievement.image", "write the term 'Image'"),
}


@pytest.mark.parametrize("name", sorted(REWRITINGS))
def test_a_rewriting_that_keeps_the_graph_is_refused(name):
    change, where, word = REWRITINGS[name]
    original = signed()
    document = signed()
    change(document)
    assert document != original
    # The attack is real: the graph — what the signature covers — is exactly the signed one.
    assert stock_nquads(document) == stock_nquads(original)
    with pytest.raises(UnsafeDocumentError) as raised:
        canonicalize({key: value for key, value in document.items() if key != "proof"})
    message = str(raised.value)
    assert message.startswith(where + ":"), message
    assert word in message, message
    verdict = document_verdict(document)
    assert verdict.format_error and verdict.signature_valid is None and verdict.credential_hash is None


def test_the_signed_credential_itself_verifies():
    verdict = document_verdict(signed())
    assert verdict.format_error is None and verdict.signature_valid is True
    assert summary(signed())["recipient"] == "Zoë Ñúñez"
    assert summary(signed())["validUntil"] == "2025-01-01T00:00:00Z"


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reorder(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(item) for item in value]
    return value


def _singletons(document: dict[str, Any]) -> dict[str, Any]:
    """One-item arrays written as the item, and single values as one-item arrays."""
    document = copy.deepcopy(document)
    subject = document["credentialSubject"]
    achievement = subject["achievement"]
    document["issuer"]["type"] = "Profile"
    subject["type"] = "AchievementSubject"
    subject["identifier"] = subject["identifier"][0]
    achievement["type"] = "Achievement"
    achievement["alignment"] = achievement["alignment"][0]
    achievement["alignment"]["type"] = "Alignment"
    achievement["image"]["type"] = ["Image"]
    achievement["tag"] = achievement["tag"][:1] * 1
    document["credentialStatus"] = [document["credentialStatus"]]
    document["evidence"] = document["evidence"][0]
    return document


BENIGN: dict[str, Callable[[dict], dict]] = {
    "keys in another order": _reorder,
    "other whitespace": lambda d: json.loads(json.dumps(d, indent=7, separators=(" ,  ", " :\t"))),
    "\\u escapes instead of UTF-8": lambda d: json.loads(json.dumps(d, ensure_ascii=True)),
    "one-item arrays as single values, and back": _singletons,
}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_a_benign_variant_still_verifies(name):
    original = signed()
    document = BENIGN[name](signed())
    if name.startswith("one-item"):
        # the tags change (one of two); put them back, only the array form differs
        document["credentialSubject"]["achievement"]["tag"] = original["credentialSubject"]["achievement"]["tag"]
    verdict = document_verdict(document)
    assert verdict.format_error is None, verdict.format_error
    assert verdict.signature_valid is True
    assert verdict.credential_hash == document_verdict(original).credential_hash


def test_a_single_tag_written_without_its_array_verifies():
    document = unsigned()
    document["credentialSubject"]["achievement"]["tag"] = ["reasoning"]
    signed_once = dataintegrity.sign(document, KEY, VERIFICATION_METHOD, "2026-11-22T10:00:00Z")
    signed_once["credentialSubject"]["achievement"]["tag"] = "reasoning"
    verdict = document_verdict(signed_once)
    assert verdict.format_error is None and verdict.signature_valid is True


@pytest.mark.parametrize(("path", "value"), [
    (("credentialSubject", "name"), ["Zoë Ñúñez"]),
    (("credentialSubject", "name"), {"en": "Zoë Ñúñez"}),
    (("issuer", "name"), ["Lakeside Community College", MALLORY]),
    (("name",), {"@value": "Critical Thinking"}),
    (("credentialSubject", "achievement", "name"), ["Critical Thinking"]),
    (("validUntil",), ["2025-01-01T00:00:00Z"]),
])
def test_a_displayed_field_must_be_one_string(path, value):
    document = signed()
    *parents, last = path
    at(document, *parents)[last] = value
    with pytest.raises(CredentialFormatError):
        check_shape(document)
    with pytest.raises(CredentialFormatError):
        summary(document)
    assert document_verdict(document).format_error

"""Varied Open Badges 3.0 / VC 2.0 credentials, drawn from a ``random.Random``.

The same builder feeds the hypothesis property test (``st.randoms()`` drives it, so it
shrinks) and the fixed corpus the jsonld.js cross-check uses (``corpus(seed, n)``). What
varies: names and texts (unicode, quotes, backslashes, tabs and newlines, emoji, right-to-left
text), optional fields, the OB 3.0.x context, ids (URLs, DIDs, URNs, none), identifiers,
evidence, alignments (sometimes identical ones, whose blank nodes RDFC-1.0 must tell apart),
results, one or two status entries, a single value where an array is allowed, key order.
"""

from __future__ import annotations

import random
from typing import Any

VC2 = "https://www.w3.org/ns/credentials/v2"
# (3.0.1 and older redefine protected VC 2.0 terms: every processor refuses them with VC 2.0)
OB = ["https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"] * 3 + [
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json"]
_PIECES = ["Ada", "Lovelace", "Zoë", "Ñúñez-O'Brien", "山田 太郎", "محمد", "Ελένη", "🎓", "✓", "\"quoted\"",
           "back\\slash", "tab\there", "two\nlines", "carriage\rreturn", "Critical Thinking", "data & AI",
           "<b>not html</b>", "%20", "\u00e9", "e\u0301", " ", "—", "☃", "İstanbul", "ß"]


def text(rng: random.Random, words: int = 3) -> str:
    return " ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, words)))


def _maybe(rng: random.Random, document: dict[str, Any], key: str, value: Any, p: float = 0.5) -> None:
    if rng.random() < p:
        document[key] = value


def _one_or_list(rng: random.Random, items: list[Any]) -> Any:
    return items[0] if len(items) == 1 and rng.random() < 0.3 else items


def _url(rng: random.Random, path: str) -> str:
    host = rng.choice(["https://lakeside.example.edu", "http://127.0.0.1:8001", "https://issuer.example:8443"])
    return f"{host}/{path}/{rng.randint(0, 10**6)}"


def _did(rng: random.Random) -> str:
    return rng.choice(["did:web:127.0.0.1%3A8001:issuers:lakeside", "did:web:lakeside.example.edu",
                       "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "did:example:issuer"])


def _image(rng: random.Random) -> dict[str, Any]:
    image = {"id": rng.choice([_url(rng, "images"), "data:image/png;base64,iVBORw0KGgo="]), "type": "Image"}
    _maybe(rng, image, "caption", text(rng))
    return image


def _profile(rng: random.Random) -> dict[str, Any]:
    profile: dict[str, Any] = {"id": _did(rng), "type": _one_or_list(rng, ["Profile"]), "name": text(rng)}
    _maybe(rng, profile, "url", _url(rng, "home"))
    _maybe(rng, profile, "email", "registrar@lakeside.example.edu")
    _maybe(rng, profile, "description", text(rng, 8), 0.3)
    _maybe(rng, profile, "image", _image(rng), 0.3)
    _maybe(rng, profile, "phone", "+44 20 7946 0000", 0.2)
    return profile


def _alignment(rng: random.Random) -> dict[str, Any]:
    alignment: dict[str, Any] = {"type": _one_or_list(rng, ["Alignment"]), "targetName": text(rng),
                                 "targetUrl": _url(rng, "skills")}
    _maybe(rng, alignment, "targetFramework", rng.choice(["ESCO", "O*NET", "SFIA"]))
    _maybe(rng, alignment, "targetCode", f"{rng.randint(1, 9)}.A.{rng.randint(1, 9)}")
    _maybe(rng, alignment, "targetDescription", text(rng, 6), 0.3)
    _maybe(rng, alignment, "targetType", rng.choice(["ext:ESCOSkill", "CFItem", "ceasn:Competency"]), 0.3)
    return alignment


def _achievement(rng: random.Random) -> dict[str, Any]:
    achievement: dict[str, Any] = {"id": _url(rng, "achievements"), "type": _one_or_list(rng, ["Achievement"]),
                                   "name": text(rng), "description": text(rng, 10),
                                   "criteria": rng.choice([{"narrative": text(rng, 10)}, {"id": _url(rng, "criteria")}])}
    _maybe(rng, achievement, "achievementType", rng.choice(["MicroCredential", "Badge", "Certificate", "Course"]))
    _maybe(rng, achievement, "image", _image(rng))
    if rng.random() < 0.6:
        alignments = [_alignment(rng) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.2:
            alignments.append(dict(alignments[0]))  # the same alignment twice: one node, duplicates dropped
        achievement["alignment"] = _one_or_list(rng, alignments)
    if rng.random() < 0.5:
        achievement["tag"] = _one_or_list(rng, sorted({text(rng, 1) for _ in range(rng.randint(1, 6))}))
    _maybe(rng, achievement, "creator", {"id": _url(rng, "orgs"), "type": ["Profile"], "name": text(rng)}, 0.2)
    _maybe(rng, achievement, "humanCode", f"CT-{rng.randint(100, 999)}", 0.3)
    _maybe(rng, achievement, "fieldOfStudy", text(rng), 0.2)
    _maybe(rng, achievement, "version", f"{rng.randint(1, 3)}.{rng.randint(0, 9)}", 0.2)
    _maybe(rng, achievement, "inLanguage", rng.choice(["en", "fr-CA", "ja"]), 0.2)
    return achievement


def _subject(rng: random.Random) -> dict[str, Any]:
    subject: dict[str, Any] = {"type": _one_or_list(rng, ["AchievementSubject"]), "achievement": _achievement(rng)}
    _maybe(rng, subject, "name", text(rng))
    _maybe(rng, subject, "id", rng.choice(["did:example:learner-1", "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"]),
           0.3)
    if rng.random() < 0.7:
        identity = {"type": "IdentityObject", "identityType": "emailAddress", "hashed": rng.random() < 0.8,
                    "identityHash": f"sha256${rng.getrandbits(256):064x}", "salt": f"{rng.getrandbits(60):x}"}
        subject["identifier"] = _one_or_list(rng, [identity])
    if rng.random() < 0.3:
        subject["result"] = [{"type": ["Result"], "value": rng.choice(["A", "Pass", "87", text(rng)])}
                             for _ in range(rng.randint(1, 3))]
    _maybe(rng, subject, "activityEndDate", "2026-06-30", 0.2)
    _maybe(rng, subject, "creditsEarned", rng.choice([3, 10, 2.5]), 0.2)  # xsd:float; 2.5 takes the full path
    return subject


def _status(rng: random.Random, purpose: str) -> dict[str, Any]:
    index = rng.randint(0, 131_071)
    list_url = _url(rng, "status")
    return {"id": f"{list_url}#{index}", "type": "BitstringStatusListEntry", "statusPurpose": purpose,
            "statusListIndex": str(index), "statusListCredential": list_url}


def credential(rng: random.Random) -> dict[str, Any]:
    """One varied, unsigned OB 3.0 credential."""
    document: dict[str, Any] = {
        "@context": [VC2, rng.choice(OB)],
        "type": rng.choice([["VerifiableCredential", "OpenBadgeCredential"], ["OpenBadgeCredential", "VerifiableCredential"],
                            ["VerifiableCredential", "OpenBadgeCredential", "AchievementCredential"]]),
        "issuer": _profile(rng),
        "validFrom": rng.choice(["2026-11-22T10:00:00Z", "2026-01-01T00:00:00+02:00", "2025-02-28T23:59:59.123Z"]),
        "credentialSubject": _subject(rng),
    }
    _maybe(rng, document, "id", rng.choice([_url(rng, "c"), "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"]), 0.9)
    _maybe(rng, document, "name", text(rng))
    _maybe(rng, document, "description", text(rng, 12), 0.3)
    _maybe(rng, document, "validUntil", "2029-11-22T10:00:00Z")
    if rng.random() < 0.4:
        evidence = []
        for _ in range(rng.randint(1, 4)):
            item: dict[str, Any] = {"type": _one_or_list(rng, ["Evidence"])}
            _maybe(rng, item, "id", _url(rng, "evidence"), 0.6)
            _maybe(rng, item, "name", text(rng), 0.8)
            _maybe(rng, item, "narrative", text(rng, 8))
            _maybe(rng, item, "genre", rng.choice(["Essay", "Portfolio"]), 0.3)
            _maybe(rng, item, "audience", "Employers", 0.2)
            evidence.append(item)
        document["evidence"] = _one_or_list(rng, evidence)
    if rng.random() < 0.7:
        statuses = [_status(rng, "revocation")] + ([_status(rng, "suspension")] if rng.random() < 0.7 else [])
        document["credentialStatus"] = _one_or_list(rng, statuses)
    keys = list(document)
    rng.shuffle(keys)  # key order is free
    return {key: document[key] for key in keys}


def corpus(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` credentials, the same ones for the same seed."""
    rng = random.Random(seed)
    return [credential(rng) for _ in range(count)]

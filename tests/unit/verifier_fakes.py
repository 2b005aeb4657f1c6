"""A fake checker and sample documents for the verifier's page and route tests (no I/O)."""

from __future__ import annotations

import copy

from services.core.verification import CHECK_IDS, Check, Report

CREDENTIAL_ID = "AbCdEfGhIjKlMnOpQrStUv"
BASE = "http://127.0.0.1:8000"
CREDENTIAL = {
    "@context": ["https://www.w3.org/ns/credentials/v2",
                 "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
    "id": f"{BASE}/c/{CREDENTIAL_ID}",
    "type": ["VerifiableCredential", "OpenBadgeCredential"],
    "issuer": {"id": "did:web:127.0.0.1%3A8001:issuers:cascade", "type": ["Profile"], "name": "Cascade & Co",
               "url": "https://cascade.example"},
    "validFrom": "2026-03-05T10:00:00Z", "validUntil": "2028-03-05T10:00:00Z",
    "credentialSubject": {
        "type": ["AchievementSubject"], "name": "Ada Lovelace",
        "achievement": {"id": "https://cascade.example/a/1", "type": ["Achievement"], "name": "Critical Thinking",
                        "description": "Weighs evidence.", "criteria": {"narrative": "Passed the assessment."},
                        "alignment": [{"type": ["Alignment"], "targetName": "Analysis",
                                       "targetUrl": "https://skills.example/analysis", "targetFramework": "ESCO",
                                       "targetCode": "S1.2"}]}},
    "evidence": [{"type": ["Evidence"], "id": "https://cascade.example/e/1", "name": "Capstone"}],
}
ANCHOR = {"chainId": 31337, "contract": "0x" + "ab" * 20, "account": "0x" + "cd" * 20, "root": "0x" + "11" * 32,
          "txHash": "0x" + "22" * 32, "blockNumber": 12, "confirmations": 3}


def report(status: str = "valid", credential: dict | None = None, anchor: dict | None = ANCHOR) -> Report:
    credential = credential or CREDENTIAL
    subject = credential.get("credentialSubject") or {}
    failed = {"revoked": "revocation", "expired": "expiry", "invalid": "signature"}.get(status)
    checks = [Check(i, "failed" if i == failed else "pending" if status == "pending" and i == "anchor" else "passed",
                    f"The {i} check says so.") for i in CHECK_IDS]
    return Report(status=status, checks=checks, anchor=anchor, credential={
        "id": credential.get("id"), "name": (subject.get("achievement") or {}).get("name"),
        "issuer": (credential.get("issuer") or {}).get("name"), "recipient": subject.get("name"),
        "validFrom": credential.get("validFrom"), "validUntil": credential.get("validUntil")})


class FakeChecker:
    """Answers like the real checker, from a dict of credentials by id."""

    def __init__(self, credentials: dict[str, dict] | None = None, status: str = "valid") -> None:
        self.credentials = credentials if credentials is not None else {CREDENTIAL_ID: copy.deepcopy(CREDENTIAL)}
        self.status = status
        self.documents: list[dict] = []

    async def verify_credential_id(self, credential_id: str):
        credential = self.credentials.get(credential_id)
        if credential is None:
            return None, None
        return report(self.status, credential), credential

    async def fetch_own_credential(self, credential_id: str):
        return self.credentials.get(credential_id)

    async def verify_document(self, credential: dict) -> Report:
        self.documents.append(credential)
        return report(self.status, credential)


class FakeProfileChecker(FakeChecker):
    """A FakeChecker that also serves learners' profile listings (``profiles``: id → listing) and a
    status per credential id (``statuses``)."""

    def __init__(self, credentials: dict[str, dict], profiles: dict[str, dict],
                 statuses: dict[str, str] | None = None) -> None:
        super().__init__(credentials)
        self.profiles = profiles
        self.statuses = statuses or {}
        self.profile_reads = 0

    async def fetch_profile(self, profile_id: str):
        self.profile_reads += 1
        return copy.deepcopy(self.profiles.get(profile_id))

    async def verify_credential_id(self, credential_id: str):
        credential = self.credentials.get(credential_id)
        if credential is None:
            return None, None
        return report(self.statuses.get(credential_id, "valid"), credential), credential

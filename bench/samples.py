"""The sample issuer and achievement the benchmarks build their credentials from, as the issuer builds them."""

from __future__ import annotations

from datetime import UTC, datetime


def credential_builder(status_lists: str | None = None):
    """A function ``i -> credential`` for learner ``i`` of one sample issuer and achievement;
    with ``status_lists`` (a URL prefix), each carries a revocation and a suspension entry at index ``i``."""
    from services.core import statuslist
    from services.issuer.credentials import document as cred

    profile = cred.profile_document(cred.ProfileData(did="did:web:issuer.example:issuers:bench", name="Bench College",
                                                     url="https://bench.example", email="a@bench.example"))
    achievement = cred.achievement_document(cred.AchievementData(
        id_url="https://issuer.example/public/achievements/ach_bench", name="Critical Thinking",
        description="Analyses arguments and weighs evidence.", criteria_narrative="Passed the capstone.",
        achievement_type="MicroCredential", tags=["reasoning"],
        alignment=[{"targetName": "Critical Thinking", "targetUrl": "https://example.org/ct",
                    "targetFramework": "O*NET", "targetCode": "2.A.2.a"}]))
    now = datetime.now(UTC)

    def build(i: int) -> dict:
        status = None if status_lists is None else [statuslist.entry(f"{status_lists}/revocation", "revocation", i),
                                                    statuslist.entry(f"{status_lists}/suspension", "suspension", i)]
        return cred.build_credential(credential_id=cred.new_credential_id(), public_base_url="https://verify.example",
                                     profile=profile, achievement=achievement, recipient_name=f"Learner {i}",
                                     recipient_email=f"l{i}@example.org", salt=cred.new_salt(), valid_from=now,
                                     valid_until=None, status=status)
    return build

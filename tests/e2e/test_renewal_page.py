"""The verifier's credential page across the real services: an achievement's level, category and
skills, and a renewed credential pointing to its successor (docs/issuer.md, "Renewal")."""

from __future__ import annotations

import pytest

from tests.support.issuers import new_issuer
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

ACHIEVEMENT = {"name": "Active Listening", "description": "Listens so that others feel heard.",
               "criteria": {"narrative": "Observed in three assessed conversations."},
               "achievementType": "Competency", "level": "intermediate", "category": "soft", "credits": 0.5,
               "hours": 6, "validity_days": 1095,
               "alignment": [{"targetName": "Active Listening", "targetFramework": "O*NET", "targetCode": "2.A.1.b",
                              "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.A.1.b"}]}


def test_the_page_shows_the_level_and_skills_and_a_renewed_credential_points_to_its_successor(stack, verifier):
    with new_issuer(stack.url("issuer"), "lakeside", active=False) as api:
        achievement = api.achievement(**ACHIEVEMENT)
        old = api.issue(achievement["id"], name="Ada")
        page = verifier.get(f"/c/{old['id']}").text
        assert '<span class="level" id="level">Intermediate</span>' in page
        assert '<span class="category">soft</span>' in page and "0.5 credits" in page
        assert 'href="https://www.onetonline.org/find/descriptor/result/2.A.1.b"' in page
        assert 'id="renewed"' not in page

        new = api.post(f"/api/v1/credentials/{old['id']}/renew", json={}).json()
        assert new["replaces"] == old["id"]
        # The verifier reads the issuer's public status on every report (cached for a moment).
        wait_for(lambda: 'id="renewed"' in verifier.get(f"/c/{old['id']}").text, timeout=30,
                 what="the old page to say it was renewed")
        page = verifier.get(f"/c/{old['id']}").text
        assert f'Renewed: <a href="{new["url"]}">see the new credential</a>' in page
        report = verifier.get(f"/c/{old['id']}", headers={"Accept": "application/json"}).json()
        assert report["renewedBy"] == new["url"]
        assert 'id="renewed"' not in verifier.get(f"/c/{new['id']}").text

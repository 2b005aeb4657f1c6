"""Issuers, achievements and credentials made through the issuer's HTTP API, for every test layer.

The functions take any httpx-style client: a ``fastapi.testclient.TestClient`` in the
integration tests (an explicit ``key`` per call), or an ``IssuerApi`` against a running stack
(tests/support/stack.py), whose own key is sent with every request.

On a stack that several test modules share, ``new_issuer`` makes each slug unique, so tests
never meet each other's issuers.
"""

from __future__ import annotations

import secrets

import httpx

from tests.support.stack import ADMIN_TOKEN, wait_for


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def create_issuer(client, admin_token: str, slug: str, headers: dict | None = None, **fields) -> dict:
    """``POST /api/v1/issuers`` as the platform admin; the 201 body (with the one-time ``api_key``)."""
    body = {"name": f"{slug.title()} College", "slug": slug, "url": f"https://{slug}.example.edu",
            "email": f"registrar@{slug}.example.edu", **fields}
    r = client.post("/api/v1/issuers", json=body, headers={**auth(admin_token), **(headers or {})})
    assert r.status_code == 201, r.text
    return r.json()


def create_achievement(client, key: str | None = None, **fields) -> dict:
    """``POST /api/v1/achievements``; ``fields`` over a plain default achievement."""
    body = {"name": "Critical Thinking", "description": "Analyses arguments and weighs evidence.",
            "criteria": {"narrative": "Completed the course and its capstone."}, **fields}
    r = client.post("/api/v1/achievements", json=body, headers=auth(key) if key else None)
    assert r.status_code == 201, r.text
    return r.json()


def issue(client, key: str | None, achievement_id: str, name: str = "Ada Lovelace", email: str = "ada@example.org",
          headers: dict | None = None, expect: tuple[int, ...] = (201,), **extra) -> dict:
    """``POST /api/v1/credentials`` for one recipient; the stored credential (``expect``: the statuses
    allowed, e.g. 200 too for a replayed Idempotency-Key)."""
    r = client.post("/api/v1/credentials", json={"achievement_id": achievement_id,
                                                 "recipient": {"name": name, "email": email}, **extra},
                    headers={**(auth(key) if key else {}), **(headers or {})})
    assert r.status_code in expect, r.text
    return r.json()


class IssuerApi(httpx.Client):
    """A client of a running issuer service, authorised as one issuer (``info``: its 201 body)."""

    info: dict

    # Usable in a ``with`` after it has made requests (httpx refuses to "open" a used client twice).
    def __enter__(self) -> IssuerApi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def slug(self) -> str:
        return self.info["slug"]

    def achievement(self, **fields) -> dict:
        return create_achievement(self, None, **fields)

    def issue(self, achievement_id: str, **kwargs) -> dict:
        return issue(self, None, achievement_id, **kwargs)

    def wait_active(self, timeout: float = 60) -> dict:
        """Wait until the registry says the issuer's chain account is active; the issuer's view of itself."""
        return wait_for(lambda: (r := self.get("/api/v1/issuer")).status_code == 200
                        and r.json()["registry"]["state"] == "active" and r.json(),
                        timeout=timeout, what=f"issuer {self.slug} registered on chain")


def unique_slug(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def new_issuer(issuer_url: str, slug: str, *, active: bool = True, unique: bool = True,
               headers: dict | None = None, **fields) -> IssuerApi:
    """A new issuer at the issuer service ``issuer_url`` and a client with its key.

    ``slug`` gets a random suffix unless ``unique=False``; ``active`` waits until its chain
    account is active (``False``: use it at once, before the registry has it on chain).
    """
    with httpx.Client(base_url=issuer_url, timeout=30) as admin:
        info = create_issuer(admin, ADMIN_TOKEN, unique_slug(slug) if unique else slug, headers=headers, **fields)
    api = IssuerApi(base_url=issuer_url, headers=auth(info["api_key"]), timeout=30)
    api.info = info
    if active:
        api.wait_active()
    return api

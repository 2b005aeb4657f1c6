"""The verifier's ``POST /api/v1/verify`` over HTTP: the issuer never imports the verifier (docs/pathways.md)."""

from __future__ import annotations

import httpx


class VerifierUnavailable(Exception):
    """The verifier did not answer (or not with a report): nothing is decided."""


class VerifierClient:
    """The verifier's ``POST /api/v1/verify``, over HTTP."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)

    def verify(self, credential: dict) -> dict:
        try:
            r = self.client.post(f"{self.base_url}/api/v1/verify", json={"credential": credential})
        except httpx.HTTPError as exc:
            raise VerifierUnavailable(f"the verifier did not answer: {exc}") from None
        if r.status_code != 200:
            raise VerifierUnavailable(f"the verifier answered {r.status_code}")
        try:
            report = r.json()
        except ValueError:
            raise VerifierUnavailable("the verifier's answer is not JSON") from None
        if not isinstance(report, dict) or not isinstance(report.get("status"), str):
            raise VerifierUnavailable("the verifier's answer is not a report")
        return report

    def close(self) -> None:
        self.client.close()

"""The registry as the issuer sees it: a small port, and its httpx adapter (service token).

Transport failures, timeouts and 5xx answers are :class:`RegistryUnavailable` (try again
later: the outbox keeps the message); a 4xx answer is :class:`RegistryRefused` with the
registry's own error code (the message will not succeed by retrying as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx


class RegistryError(Exception):
    pass


class RegistryUnavailable(RegistryError):
    pass


class RegistryRefused(RegistryError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"registry refused ({status} {code}): {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ChainAccount:
    address: str
    state: str  # registering | active


class Registry(Protocol):
    def create_issuer(self, issuer_id: str, did: str, public_key: str, timeout: float | None = None) -> ChainAccount: ...
    def get_issuer(self, issuer_id: str) -> ChainAccount: ...
    def rotate_key(self, issuer_id: str, body: dict) -> ChainAccount: ...
    def queue_anchors(self, issuer_id: str, hashes: list[str]) -> dict: ...
    def queue_revocations(self, issuer_id: str, hashes: list[str]) -> dict: ...
    def anchor_receipt(self, credential_hash: str) -> dict | None: ...
    def chain(self) -> dict: ...


class HttpRegistry:
    def __init__(self, base_url: str, service_token: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                   headers={"Authorization": f"Bearer {service_token}"},
                                   limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, json: Any = None, timeout: float | None = None,
              ok_404: bool = False) -> Any:
        try:
            kwargs: dict[str, Any] = {"json": json} if json is not None else {}
            if timeout is not None:
                kwargs["timeout"] = timeout
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(f"registry unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 404 and ok_404:
            return None
        if response.status_code >= 500:
            raise RegistryUnavailable(f"registry answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RegistryUnavailable(f"registry answered {response.status_code} without JSON") from None
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise RegistryRefused(response.status_code, str(error.get("code", "error")),
                                  str(error.get("message", response.text[:200])))
        return body

    def create_issuer(self, issuer_id: str, did: str, public_key: str, timeout: float | None = None) -> ChainAccount:
        body = self._call("POST", "/api/v1/issuers", {"issuer_id": issuer_id, "did": did, "public_key": public_key},
                          timeout=timeout)
        return ChainAccount(body["address"], body["state"])

    def get_issuer(self, issuer_id: str) -> ChainAccount:
        body = self._call("GET", f"/api/v1/issuers/{issuer_id}")
        return ChainAccount(body["address"], body["state"])

    def rotate_key(self, issuer_id: str, body: dict) -> ChainAccount:
        answer = self._call("POST", f"/api/v1/issuers/{issuer_id}/keys", body)
        return ChainAccount(answer["address"], answer["state"])

    def queue_anchors(self, issuer_id: str, hashes: list[str]) -> dict:
        return self._call("POST", "/api/v1/anchors", {"issuer_id": issuer_id, "hashes": hashes})

    def queue_revocations(self, issuer_id: str, hashes: list[str]) -> dict:
        return self._call("POST", "/api/v1/revocations", {"issuer_id": issuer_id, "hashes": hashes})

    def anchor_receipt(self, credential_hash: str) -> dict | None:
        return self._call("GET", f"/api/v1/anchors/{credential_hash}", ok_404=True)

    def chain(self) -> dict:
        return self._call("GET", "/api/v1/chain")

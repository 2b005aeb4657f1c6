"""The registry as the issuer sees it: a small port, and its httpx adapter (service token).

Transport failures, timeouts and 5xx answers are :class:`RegistryUnavailable` (try again
later: the outbox keeps the message); a 4xx answer is :class:`RegistryRefused` with the
registry's own error code (the message will not succeed by retrying as is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from services.core import requestid


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


@dataclass(frozen=True)
class KeyChainState:
    """One signing key of an issuer as the registry sees it on chain.

    ``state`` is where its registerIssuer / addKey transaction stands: ``queued`` (not yet sent),
    ``submitted`` (sent or mined, not yet confirmed), ``confirmed``, or ``failed`` (refused for
    good, ``error`` says why). Credentials it signed are anchored only once it is ``confirmed``.
    ``retirement`` is None, or the same for its retireKey, with ``valid_until`` once mined.
    """

    public_key: str
    state: str
    valid_from: int | None  # unix seconds on chain (the registration's block time), once mined
    error: str | None
    anchors_waiting: int  # hashes it signed, queued at the registry and not yet in a batch
    retirement_state: str | None = None
    valid_until: int | None = None  # unix seconds on chain, once the retirement is mined
    compromised: bool = False
    retirement_error: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> "KeyChainState":
        retirement = body.get("retirement") or {}
        return cls(public_key=body["public_key"], state=body["state"], valid_from=body.get("valid_from"),
                   error=body.get("error"), anchors_waiting=int(body.get("anchors_waiting") or 0),
                   retirement_state=retirement.get("state"), valid_until=retirement.get("valid_until"),
                   compromised=bool(retirement.get("compromised", False)), retirement_error=retirement.get("error"))


class Registry(Protocol):
    def create_issuer(self, issuer_id: str, did: str, public_key: str, timeout: float | None = None) -> ChainAccount: ...
    def get_issuer(self, issuer_id: str) -> ChainAccount: ...
    def key_states(self, issuer_id: str) -> list[KeyChainState]: ...
    def rotate_key(self, issuer_id: str, body: dict) -> ChainAccount: ...
    def queue_anchors(self, issuer_id: str, hashes: list[str], public_key: str | None = None,
                      flush: bool = False) -> dict: ...
    def queue_revocations(self, issuer_id: str, hashes: list[str]) -> dict: ...
    def anchor_receipt(self, credential_hash: str) -> dict | None: ...
    def anchor_receipts(self, hashes: list[str]) -> list[dict | None]: ...
    def chain(self) -> dict: ...
    def queue_status_list(self, issuer_id: str, list_id: str, list_hash: str, version: int) -> dict: ...
    def status_list(self, issuer_id: str, list_id: str) -> dict | None: ...


class HttpRegistry:
    def __init__(self, base_url: str, service_token: str, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport,
                                   headers={"Authorization": f"Bearer {service_token}"},
                                   event_hooks=requestid.httpx_hooks(base_url),  # X-Request-ID goes along
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

    def key_states(self, issuer_id: str) -> list[KeyChainState]:
        """Every signing key of the issuer, oldest first, with where it stands on chain."""
        # A read for people looking at the issuer: a short wait, then "could not be asked".
        body = self._call("GET", f"/api/v1/issuers/{issuer_id}", timeout=3.0)
        return [KeyChainState.from_json(k) for k in body.get("keys", [])]

    def rotate_key(self, issuer_id: str, body: dict) -> ChainAccount:
        """``body``: ``public_key`` (new), ``retire`` (old), ``compromised``, and ``retire_at``:
        None for a normal retirement (the block time), whole unix seconds for a compromise."""
        answer = self._call("POST", f"/api/v1/issuers/{issuer_id}/keys", body)
        return ChainAccount(answer["address"], answer["state"])

    def queue_anchors(self, issuer_id: str, hashes: list[str], public_key: str | None = None,
                      flush: bool = False) -> dict:
        """Queue hashes signed by ``public_key``; the registry anchors them once that key is on chain
        (``flush``: the last of a batch, anchored in the registry's next pass)."""
        body: dict[str, Any] = {"issuer_id": issuer_id, "hashes": hashes}
        if public_key is not None:
            body["public_key"] = public_key
        if flush:
            body["flush"] = True
        return self._call("POST", "/api/v1/anchors", body)

    def queue_revocations(self, issuer_id: str, hashes: list[str]) -> dict:
        return self._call("POST", "/api/v1/revocations", {"issuer_id": issuer_id, "hashes": hashes})

    def anchor_receipt(self, credential_hash: str) -> dict | None:
        return self._call("GET", f"/api/v1/anchors/{credential_hash}", ok_404=True)

    def anchor_receipts(self, hashes: list[str]) -> list[dict | None]:
        """Up to 10,000 receipts in one call, in order (None: never queued)."""
        return self._call("POST", "/api/v1/anchors/receipts", {"hashes": hashes})["receipts"]

    def chain(self) -> dict:
        return self._call("GET", "/api/v1/chain")

    def queue_status_list(self, issuer_id: str, list_id: str, list_hash: str, version: int) -> dict:
        """Queue ``version`` of a status list (``list_id`` = keccak256 of its URL, ``list_hash`` = its
        credential hash, both 0x hex); the registry sets only the newest version on chain. Idempotent;
        answers ``{issuer_id, list_id, version, state}``, state ``superseded`` for an outdated version."""
        return self._call("POST", "/api/v1/status-lists", {"issuer_id": issuer_id, "list_id": list_id,
                                                           "hash": list_hash, "version": version})

    def status_list(self, issuer_id: str, list_id: str) -> dict | None:
        """The newest version the registry knows of the list and where it stands on chain (None: unknown):
        ``{issuer_id, list_id, version, hash, state, txHash, blockNumber, setAt}``."""
        from urllib.parse import quote

        return self._call("GET", f"/api/v1/status-lists/{list_id}?issuer_id={quote(issuer_id, safe='')}", ok_404=True)

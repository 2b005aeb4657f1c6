"""Reading a credential's W3C Bitstring Status List entries, failing closed (docs/status-lists.md).

For one of our issuers the chain is the authority: the contract holds, per (issuer account,
list id), the hash of the list's latest version. The verifier reads that hash, takes the
version with exactly that hash (from its cache, or from the issuer's immutable
``{list}/versions/{hash}``), and accepts it only if

* it is the list the entry names (id, purpose, issuer: :func:`statuslist.read_list`),
* its credential hash is the one on chain, and
* it is signed (eddsa-rdfc-2022) by a key the issuer's chain account holds.

A verified version is immutable, so it is cached by its hash for good: while its hash is still
the latest on chain it is as good as a fresh copy, even with the issuer down. A version whose
hash is not the latest is stale and never used. A list no version of which is on chain yet is
``pending``. Anything that cannot be fetched right now is ``transient`` (the verdict says
"cannot be checked right now"); anything wrong — a bad signature, a hash that does not match,
a list that is not the one named — is an error, and the check fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from services.core import safejson, statuslist
from services.core.dataintegrity import ProofError, verify_all
from services.core.jsonld import JsonLdDocumentError, credential_hash
from services.core.multiformats import MultiformatError, decode_public_key
from services.verifier.lru import LRU

ZERO = b"\x00" * 32
MAX_LIST_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class EntryState:
    """What one status entry says, or why it could not be read."""

    purpose: str
    set: bool | None = None  # the bit, once read
    pending: bool = False  # the list has no version on chain yet
    error: str | None = None  # something is wrong with the list: the check fails
    transient: str | None = None  # could not be read right now: the check cannot run


class StatusLists:
    """Verified list versions by hash, and how to fetch one from our issuer service."""

    def __init__(self, http: httpx.AsyncClient | None, issuer_url: str | None, timeout: float = 3.0,
                 cache_size: int = 256, any_host: bool = False) -> None:
        self.http = http
        self.issuer_url = issuer_url.rstrip("/") if issuer_url else None
        self.timeout = timeout
        # The CLI, run by its user with only the credential and a chain endpoint, reads the
        # list from wherever the credential says; the verifier service only from our issuer.
        self.any_host = any_host
        self._bits: LRU = LRU(cache_size)  # (list url, hash) -> verified bitstring

    def is_ours(self, entry: statuslist.Entry) -> bool:
        if self.any_host:
            return entry.list_url.startswith(("https://", "http://"))
        return bool(self.issuer_url) and entry.list_url.startswith(self.issuer_url + "/status-lists/")

    async def read_own(self, entries: Iterable[statuslist.Entry], on_chain: Iterable[bytes], issuer_did: str,
                       issuer_keys: Callable[[bytes], bool]) -> list[EntryState]:
        """Each entry against the version whose hash is on chain; ``issuer_keys(raw key)`` says whose key it is."""
        return list(await asyncio.gather(*(self._read_own(e, h, issuer_did, issuer_keys)
                                           for e, h in zip(entries, on_chain, strict=True))))

    async def _read_own(self, entry: statuslist.Entry, list_hash: bytes, issuer_did: str,
                        issuer_keys: Callable[[bytes], bool]) -> EntryState:
        if list_hash == ZERO:
            return EntryState(entry.purpose, pending=True)
        key = (entry.list_url, list_hash)
        bits = self._bits.get(key)
        if bits is None:
            try:
                document = await self._fetch(f"{entry.list_url}/versions/0x{list_hash.hex()}")
            except _Transient as exc:
                return EntryState(entry.purpose, transient=str(exc))
            except _Wrong as exc:
                return EntryState(entry.purpose, error=str(exc))
            try:
                bits = verified_bits(document, entry, issuer_did, list_hash, issuer_keys)
            except statuslist.StatusListError as exc:
                return EntryState(entry.purpose, error=str(exc))
            self._bits.put(key, bits)
        try:
            return EntryState(entry.purpose, set=statuslist.get_bit(bits, entry.index))
        except statuslist.StatusListError as exc:
            return EntryState(entry.purpose, error=str(exc))

    async def _fetch(self, url: str) -> dict:
        if self.http is None:
            raise _Transient("no issuer service to read the status list from")
        try:
            r = await asyncio.wait_for(self.http.get(url), self.timeout)
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:
            raise _Transient(f"the issuer's status list could not be read ({type(exc).__name__})") from None
        if r.status_code == 404:
            raise _Wrong("the issuer does not have the status list version recorded on the blockchain")
        if r.status_code != 200:
            raise _Transient(f"the issuer's status list service answered {r.status_code}")
        try:
            document = safejson.loads(r.content, max_bytes=MAX_LIST_BYTES)
        except safejson.UnsafeJSON as exc:
            raise _Wrong(f"the status list is not usable JSON: {exc.message}") from None
        if not isinstance(document, dict):
            raise _Wrong("the status list is not a JSON object")
        return document


class _Transient(Exception):
    pass


class _Wrong(Exception):
    pass


def verified_bits(document: dict, entry: statuslist.Entry, issuer_did: str, list_hash: bytes | None,
                  issuer_keys: Callable[[bytes], bool]) -> bytes:
    """The list's bitstring once it is shown to be the named list, with that hash, signed by the issuer."""
    bits = statuslist.read_list(document, entry.list_url, entry.purpose, issuer_did)
    try:
        if list_hash is not None and credential_hash(document) != list_hash:
            raise statuslist.StatusListError("the status list is not the version recorded on the blockchain")
        result = verify_all(document, _raw_key)
    except JsonLdDocumentError as exc:
        raise statuslist.StatusListError(f"the status list is malformed: {exc}") from None
    except (ProofError, ValueError) as exc:
        raise statuslist.StatusListError(f"the status list's signature cannot be checked: {exc}") from None
    if not result.valid:
        raise statuslist.StatusListError("the status list's signature does not match")
    for proof in result.proofs:
        method = proof.verification_method or ""
        if method.split("#", 1)[0] != issuer_did or not issuer_keys(_raw_key(method)):
            raise statuslist.StatusListError("the status list is not signed by a key of the issuer")
    return bits


def _raw_key(verification_method: str) -> bytes:
    fragment = verification_method.split("#", 1)[1] if "#" in verification_method else ""
    try:
        return decode_public_key(fragment)
    except MultiformatError:
        raise ValueError("the status list's verification method is not an Ed25519 multikey") from None

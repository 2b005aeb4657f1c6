"""W3C Bitstring Status List v1.0: the bitstring, its encoding, the list credential and its entries.

Pure functions shared by the issuer (which keeps and signs the lists) and the verifier (which
reads them). The rules, from the specification:

* the list is a bitstring of at least 131,072 bits (16 KiB), so that one entry says nothing
  about whose it is; bit ``i`` is bit ``7 - i % 8`` of byte ``i // 8`` (index 0 is the
  left-most, most significant bit of the first byte); 1 means the status applies;
* ``encodedList`` is the multibase base64url (no padding, prefix ``u``) of the GZIP of the
  bitstring;
* a credential points into a list with a ``BitstringStatusListEntry``: ``statusPurpose``,
  ``statusListIndex`` (a decimal string) and ``statusListCredential`` (the list's URL);
* the list itself is a ``BitstringStatusListCredential`` whose ``credentialSubject`` is a
  ``BitstringStatusList`` with the same ``statusPurpose``.

On chain, a list is known by ``list_id(url)`` (keccak-256 of its URL) and each version by its
credential hash (``services.core.jsonld.credential_hash``); see docs/status-lists.md.
"""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.core.keccak import keccak

MIN_ENTRIES = 131_072
PURPOSES = ("revocation", "suspension")
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
LIST_TYPE = "BitstringStatusList"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
# An encoded list of 131,072 bits gzips to a few hundred bytes when sparse; a hostile one is
# bounded before it is inflated (a gzip bomb must not cost memory).
MAX_ENCODED_CHARS = 1_000_000
MAX_BITS = 8 * 16 * 1024 * 1024
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,9})$")


class StatusListError(ValueError):
    """A status entry or list that cannot be used; the message says why, in plain words."""


def list_id(url: str) -> bytes:
    """The list's on-chain id: keccak-256 of its URL's UTF-8 bytes."""
    return keccak(url.encode("utf-8"))


def encode(bits: bytes | bytearray) -> str:
    if len(bits) * 8 < MIN_ENTRIES:
        raise StatusListError(f"a status list has at least {MIN_ENTRIES} entries")
    # mtime=0: the same bits always encode (and so sign and hash) the same way.
    packed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


def decode(encoded: Any) -> bytes:
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) > MAX_ENCODED_CHARS:
        raise StatusListError("encodedList must be multibase base64url (starting with 'u') of a GZIP bitstring")
    body = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise StatusListError("encodedList is not base64url") from None
    try:
        with gzip.GzipFile(fileobj=_Reader(packed)) as stream:
            bits = stream.read(MAX_BITS // 8 + 1)
    except (OSError, EOFError, ValueError):
        raise StatusListError("encodedList is not GZIP-compressed") from None
    if len(bits) > MAX_BITS // 8:
        raise StatusListError("the status list is implausibly large")
    if len(bits) * 8 < MIN_ENTRIES:
        raise StatusListError(f"the status list has fewer than {MIN_ENTRIES} entries")
    return bits


class _Reader:
    """A minimal file object over bytes (io.BytesIO would do; this keeps the bound explicit)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else min(len(self.data), self.pos + n)
        chunk, self.pos = self.data[self.pos:end], end
        return chunk


def get_bit(bits: bytes, index: int) -> bool:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"statusListIndex {index} is outside the list")
    return bool(bits[index // 8] >> (7 - index % 8) & 1)


def set_bits(bits: bytearray, on: Iterable[int] = (), off: Iterable[int] = ()) -> None:
    for index in on:
        bits[index // 8] |= 1 << (7 - index % 8)
    for index in off:
        bits[index // 8] &= ~(1 << (7 - index % 8)) & 0xFF


def empty(entries: int = MIN_ENTRIES) -> bytearray:
    return bytearray((max(entries, MIN_ENTRIES) + 7) // 8)


def entry(list_url: str, purpose: str, index: int) -> dict[str, str]:
    """The credentialStatus entry pointing at ``index`` of the list at ``list_url``."""
    return {"id": f"{list_url}#{index}", "type": ENTRY_TYPE, "statusPurpose": purpose,
            "statusListIndex": str(index), "statusListCredential": list_url}


def list_credential(*, list_url: str, issuer: str | Mapping[str, Any], purpose: str, bits: bytes | bytearray,
                    valid_from: str) -> dict[str, Any]:
    """The unsigned BitstringStatusListCredential for one version of a list."""
    return {
        "@context": [VC_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": valid_from,
        "credentialSubject": {"id": f"{list_url}#list", "type": LIST_TYPE, "statusPurpose": purpose,
                              "encodedList": encode(bits)},
    }


@dataclass(frozen=True)
class Entry:
    """A parsed BitstringStatusListEntry."""

    purpose: str
    index: int
    list_url: str


def _types(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def entries(credential_status: Any) -> list[Entry]:
    """The BitstringStatusListEntry items of a credential's ``credentialStatus`` (others are skipped)."""
    items = credential_status if isinstance(credential_status, list) else [credential_status]
    found = []
    for item in items:
        if not isinstance(item, dict) or ENTRY_TYPE not in _types(item.get("type")):
            continue
        purpose, index, url = item.get("statusPurpose"), item.get("statusListIndex"), item.get("statusListCredential")
        if not isinstance(purpose, str) or not purpose:
            raise StatusListError("a status entry has no statusPurpose")
        if not isinstance(index, str) or not _INDEX.match(index):
            raise StatusListError("statusListIndex must be a non-negative whole number written as a string")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise StatusListError("statusListCredential must be the list's URL")
        found.append(Entry(purpose, int(index), url))
    return found


def read_list(document: Any, expected_url: str, expected_purpose: str, issuer_id: str) -> bytes:
    """The bitstring of a list credential, after checking it is the list the entry names.

    The signature and the on-chain hash are checked by the caller; this checks the shape.
    """
    if not isinstance(document, dict):
        raise StatusListError("the status list is not a JSON object")
    if document.get("id") != expected_url:
        raise StatusListError("the status list's id is not the URL the credential points to")
    if LIST_CREDENTIAL_TYPE not in _types(document.get("type")):
        raise StatusListError(f"the status list is not a {LIST_CREDENTIAL_TYPE}")
    issuer = document.get("issuer")
    list_issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
    if list_issuer != issuer_id:
        raise StatusListError("the status list was issued by someone other than the credential's issuer")
    subject = document.get("credentialSubject")
    if not isinstance(subject, dict) or LIST_TYPE not in _types(subject.get("type")):
        raise StatusListError(f"the status list's subject is not a {LIST_TYPE}")
    if subject.get("statusPurpose") != expected_purpose:
        raise StatusListError(f"the status list is for {subject.get('statusPurpose')!r}, "
                              f"not {expected_purpose!r}")
    return decode(subject.get("encodedList"))

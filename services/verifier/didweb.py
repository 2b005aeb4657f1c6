"""The Ed25519 keys a ``did:key`` or ``did:web`` issuer uses to sign credentials.

:func:`resolve_keys` answers ``{verification method id: raw 32-byte Ed25519 public key}`` for
every key the DID lists as an *assertion method* (what an issuer signs credentials with).

* ``did:key:z6Mk…`` is its own key, method id ``did:key:z6Mk…#z6Mk…``; nothing is fetched.
* ``did:web`` (W3C CCG did:web method): ``did:web:example.com`` reads
  ``https://example.com/.well-known/did.json``; ``did:web:example.com:user:alice`` reads
  ``https://example.com/user/alice/did.json``; ``%3A`` in the host is a port
  (``did:web:example.com%3A8443``); path segments are percent-decoded (and encoded again in
  the URL). The document is fetched by :func:`services.verifier.fetch.fetch_json` — a DID in
  a pasted credential is as hostile as a pasted URL: public addresses only (unless trusted),
  the connection pinned to the checked address, size and time capped. ``http`` only when the
  caller allows it and the host is loopback (``localhost``, ``127.0.0.1``: development, tests).

The document must name itself (``id`` equal to the DID). Of its ``assertionMethod`` entries
(references — absolute or ``#fragment`` — to ``verificationMethod``, or embedded methods), each
must be a method of this DID (id under the DID, ``controller`` the DID); the key types read
are ``Multikey`` and ``Ed25519VerificationKey2020`` (``publicKeyMultibase`` ``z6Mk…``) and
``JsonWebKey`` / ``JsonWebKey2020`` (``publicKeyJwk`` ``{"kty": "OKP", "crv": "Ed25519", "x"}``).
Methods of other types (secp256k1, P-256 …) are skipped; a method of a type we read whose key
is malformed is an error, as is a document with no Ed25519 assertion key at all.

Every failure is a :class:`DidResolutionError`; ``transient`` says the host did not answer
(DNS, connection, timeout, 5xx), so the caller can say "cannot be checked right now" instead
of "invalid". Successful answers are kept in a :class:`KeyCache` when one is given.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import httpx

from services.core.multiformats import MultiformatError, decode_public_key, encode_public_key
from services.verifier.fetch import FetchRefused, fetch_json

MAX_DID_LENGTH = 2048
MAX_METHODS = 64  # verification and assertion methods read from one document
MULTIBASE_TYPES = ("Multikey", "Ed25519VerificationKey2020")
JWK_TYPES = ("JsonWebKey", "JsonWebKey2020")

# DID Core §3.1: method-specific-id = *( *idchar ":" ) 1*idchar, idchar = ALPHA / DIGIT / "." /
# "-" / "_" / pct-encoded. No "/", "?" or "#": a DID, not a DID URL.
_IDCHARS = r"(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})"
_DID_WEB = re.compile(rf"did:web:((?:{_IDCHARS}*:)*{_IDCHARS}+)")
_DID_KEY = re.compile(r"did:key:(z6Mk[1-9A-HJ-NP-Za-km-z]+)")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"%3[Aa]([0-9]{1,5})")


class DidResolutionError(ValueError):
    """The DID's keys cannot be had; the message says why, in plain words.

    ``transient``: the DID's host did not answer (it does not resolve, the connection failed,
    a timeout, a 5xx): the keys cannot be checked *right now*, which says nothing against
    the credential. Otherwise the DID or its document is wrong, and stays wrong.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class KeyCache:
    """What :func:`resolve_keys` found, per DID, for ``ttl`` seconds; at most ``maxsize`` DIDs.

    ``clock`` (monotonic seconds) is there for tests. Failures are not kept: a document that
    was down or wrong a moment ago is read again next time.
    """

    def __init__(self, ttl: float = 300.0, maxsize: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 0 or maxsize < 1:
            raise ValueError("ttl must be >= 0 and maxsize >= 1")
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._entries: OrderedDict[Any, tuple[float, dict[str, bytes]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> dict[str, bytes] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return dict(entry[1])

    def put(self, key: Any, keys: dict[str, bytes]) -> None:
        now = self.clock()
        self._entries[key] = (now + self.ttl, dict(keys))
        self._entries.move_to_end(key)
        for stale in [k for k, (expires, _) in self._entries.items() if now >= expires]:
            del self._entries[stale]
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def did_web_url(did: str, *, allow_http_loopback: bool = False) -> str:
    """The URL of ``did``'s DID document (did:web method §3.2, Read); refuses a malformed DID."""
    return _web_target(did, allow_http_loopback)[0]


def _web_target(did: str, allow_http_loopback: bool) -> tuple[str, str, bool]:
    """(document URL, host, whether the host is loopback and http is used)."""
    match = _DID_WEB.fullmatch(did)
    if match is None:
        raise DidResolutionError(f"{_show(did)} is not a well-formed did:web identifier "
                                 "(did:web:<host>[%3A<port>][:<path>…], letters, digits, '.', '-', '_' "
                                 "and %-escapes only)")
    host_part, *segments = match.group(1).split(":")
    host_name, port = host_part, None
    if (at := host_part.find("%")) >= 0:
        port_match = _PORT.fullmatch(host_part[at:])
        if port_match is None:
            raise DidResolutionError(f"{_show(did)}: the host may contain only one %-escape, %3A before a port")
        host_name, port = host_part[:at], int(port_match.group(1))
        if not 1 <= port <= 65535:
            raise DidResolutionError(f"{_show(did)}: port {port} is out of range")
    host = host_name.lower()
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise DidResolutionError(f"{_show(did)}: {host_name!r} is not a valid host name")
    path = []
    for segment in segments:
        try:
            decoded = unquote_to_bytes(segment).decode("utf-8")
        except UnicodeDecodeError:
            raise DidResolutionError(f"{_show(did)}: a path segment is not valid UTF-8 once decoded") from None
        if decoded in (".", "..") or not decoded.strip() or any(
                ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "/\\" for c in decoded):
            raise DidResolutionError(f"{_show(did)}: the path segment {segment!r} is not allowed "
                                     "(empty, a dot segment, a slash or a control character)")
        path.append(quote(decoded, safe=""))
    loopback = _is_loopback(host)
    http = allow_http_loopback and loopback
    authority = host if port is None else f"{host}:{port}"
    url = f"{'http' if http else 'https'}://{authority}/" + ("/".join(path) if path else ".well-known") + "/did.json"
    return url, host, http


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def did_key_keys(did: str) -> dict[str, bytes]:
    """The one key of an Ed25519 ``did:key``, under its method id ``did:key:z…#z…``."""
    match = _DID_KEY.fullmatch(did)
    if match is None:
        raise DidResolutionError(f"{_show(did)} is not an Ed25519 did:key (did:key:z6Mk…)")
    multibase = match.group(1)
    try:
        key = decode_public_key(multibase)
    except MultiformatError as exc:
        raise DidResolutionError(f"{_show(did)} is not an Ed25519 did:key: {exc}") from None
    if encode_public_key(key) != multibase:
        raise DidResolutionError(f"{_show(did)} is not an Ed25519 did:key: its key is not canonically encoded")
    return {f"{did}#{multibase}": key}


async def resolve_keys(did: str, client: httpx.AsyncClient, *, trusted_hosts: Iterable[str], max_bytes: int,
                       timeout: float, allow_http_loopback: bool = False,
                       cache: KeyCache | None = None) -> dict[str, bytes]:
    """The Ed25519 assertion keys of ``did`` (``did:key`` or ``did:web``), by verification method id.

    Raises :class:`DidResolutionError` (``transient`` when the host did not answer).
    ``trusted_hosts``, ``max_bytes`` and ``timeout`` are :func:`fetch_json`'s; a ``cache`` keeps
    the answer for its ttl.
    """
    if not isinstance(did, str) or not did:
        raise DidResolutionError("the issuer has no DID")
    if len(did) > MAX_DID_LENGTH:
        raise DidResolutionError(f"the DID is longer than {MAX_DID_LENGTH} characters")
    if did.startswith("did:key:"):
        return did_key_keys(did)
    if not did.startswith("did:web:"):
        method = did.split(":", 2)[1] if did.startswith("did:") and did.count(":") >= 2 else None
        raise DidResolutionError(f"{_show(did)}: only did:key and did:web issuers can be checked"
                                 + (f" (not did:{method})" if method and method.isalnum() else ""))
    url, host, http = _web_target(did, allow_http_loopback)
    trusted = {h.lower() for h in trusted_hosts}
    if http:
        trusted.add(host)  # the caller allowed loopback over http (development, tests)
    cache_key = (did, http, frozenset(trusted))
    if cache is not None and (hit := cache.get(cache_key)) is not None:
        return hit
    try:
        document = await fetch_json(client, url, trusted_hosts=trusted, max_bytes=max_bytes, timeout=timeout)
    except FetchRefused as exc:
        transient = getattr(exc, "transient", False)
        raise DidResolutionError(f"the DID document of {did} ({url}) "
                                 + ("cannot be read right now" if transient else "cannot be read")
                                 + f": {exc}", transient=transient) from None
    keys = keys_from_document(did, document)
    if cache is not None:
        cache.put(cache_key, keys)
    return keys


def keys_from_document(did: str, document: Any) -> dict[str, bytes]:
    """The Ed25519 assertion keys a DID document of ``did`` lists (rules in the module docstring)."""
    if not isinstance(document, dict):
        raise DidResolutionError(f"the DID document of {did} is not a JSON object")
    if document.get("id") != did:
        raise DidResolutionError(f"the DID document at {did}'s address names {_show(document.get('id'))}, "
                                 f"not {did}")
    methods: dict[str, dict] = {}
    for method in _entries(document.get("verificationMethod"), did, "verificationMethod"):
        if not isinstance(method, dict):
            raise DidResolutionError(f"the DID document of {did}: verificationMethod holds something "
                                     "that is not an object")
        method_id = _method_id(method.get("id"), did, "verificationMethod")
        if method_id in methods:
            raise DidResolutionError(f"the DID document of {did} defines {method_id} twice")
        methods[method_id] = method
    keys: dict[str, bytes] = {}
    for entry in _entries(document.get("assertionMethod"), did, "assertionMethod"):
        if isinstance(entry, str):
            method_id = _method_id(entry, did, "assertionMethod")
            if method_id not in methods:
                raise DidResolutionError(f"the DID document of {did}: assertionMethod names {method_id}, "
                                         "which its verificationMethod does not define")
            method = methods[method_id]
        elif isinstance(entry, dict):
            method_id, method = _method_id(entry.get("id"), did, "assertionMethod"), entry
        else:
            raise DidResolutionError(f"the DID document of {did}: assertionMethod holds something that is "
                                     "neither a method id nor a method")
        if method.get("controller") != did:
            raise DidResolutionError(f"the DID document of {did}: {method_id} is controlled by "
                                     f"{_show(method.get('controller'))}, not by {did}")
        key = _ed25519_key(method, method_id, did)
        if key is None:
            continue
        if keys.get(method_id, key) != key:
            raise DidResolutionError(f"the DID document of {did} gives {method_id} two different keys")
        keys[method_id] = key
    if not keys:
        raise DidResolutionError(f"the DID document of {did} lists no Ed25519 key as an assertion method")
    return keys


def _entries(value: Any, did: str, field: str) -> list:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_METHODS:
        raise DidResolutionError(f"the DID document of {did} lists more than {MAX_METHODS} {field} entries")
    return items


def _method_id(value: Any, did: str, field: str) -> str:
    """An absolute method id under ``did`` (a ``#fragment`` is relative to the DID)."""
    if not isinstance(value, str) or not value:
        raise DidResolutionError(f"the DID document of {did}: a {field} entry has no id")
    absolute = did + value if value.startswith("#") else value
    if not absolute.startswith(did + "#") or len(absolute) == len(did) + 1:
        raise DidResolutionError(f"the DID document of {did}: {_show(value)} in {field} is not a method "
                                 f"of {did} (its id must be {did}#…)")
    return absolute


def _ed25519_key(method: dict, method_id: str, did: str) -> bytes | None:
    """The raw key of a method of a type we read; None for other types."""
    kind = method.get("type")
    where = f"the DID document of {did}: {method_id} ({_show(kind)})"
    if kind in MULTIBASE_TYPES:
        try:
            return decode_public_key(method.get("publicKeyMultibase"))
        except MultiformatError as exc:
            raise DidResolutionError(f"{where} has no Ed25519 publicKeyMultibase (z6Mk…): {exc}") from None
    if kind in JWK_TYPES:
        jwk = method.get("publicKeyJwk")
        if not isinstance(jwk, dict):
            raise DidResolutionError(f"{where} has no publicKeyJwk")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            return None  # a JWK of another curve (P-256, secp256k1 …): not ours to read
        if "d" in jwk:
            raise DidResolutionError(f"{where} publishes a private key (\"d\"); it is not used")
        x = jwk.get("x")
        if not isinstance(x, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", x):
            raise DidResolutionError(f"{where}: publicKeyJwk.x is not a 32-byte base64url value")
        try:
            raw = base64.urlsafe_b64decode(x + "=")
        except (binascii.Error, ValueError):
            raise DidResolutionError(f"{where}: publicKeyJwk.x is not base64url") from None
        if len(raw) != 32 or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != x:
            raise DidResolutionError(f"{where}: publicKeyJwk.x is not a 32-byte base64url value")
        return raw
    return None


def _show(value: Any) -> str:
    """A value from a hostile document, short and printable, for a message."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else "?" for c in text)
    text = text if len(text) <= 120 else text[:117] + "..."
    return repr(text) if isinstance(value, str) else text

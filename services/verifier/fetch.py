"""Fetching a pasted URL, which is hostile until proven otherwise (docs/architecture.md).

* only ``http`` and ``https``, no user name or password in the URL;
* every address the host resolves to must be public (no private, loopback, link-local,
  multicast, reserved or unspecified ranges, IPv4-mapped forms included) unless the host
  is trusted — and the connection then goes to the very address that was checked (the
  ``Host`` header and TLS server name keep the real name), so a DNS answer that changes
  between the check and the connection (rebinding) cannot reach an internal address;
* redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each one checked again;
* the body is capped while it streams (after decompression), the whole exchange in time;
* only a JSON object comes back, parsed by :mod:`services.core.safejson` (depth, numbers,
  lone surrogates, value count bounded);
* a URL with a control character, NUL or whitespace in it, or one that does not parse, is
  refused before anything else (``FetchRefused``, never an httpx exception).

Trust: a host in ``trusted_hosts`` (the operator's ``MICROCRED_TRUSTED_HOSTS``) may be private.
Our own services are trusted far more narrowly, by :class:`TrustedRoute`: one origin (scheme,
host, port) and the paths that serve credentials there — so a pasted URL cannot probe the
issuer's admin API, the registry, or any other port of our hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from services.core import safejson

MAX_REDIRECTS = 3
MAX_URL_LENGTH = 2048
ACCEPT = "application/ld+json, application/json;q=0.9"
DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchRefused(ValueError):
    """The URL may not be fetched, or what came back is not usable; the message says why.

    ``transient`` is true when the host did not answer usefully — it does not resolve, the
    connection failed, a timeout, a 5xx, 408 or 429 —, so trying again later may succeed.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Target:
    """Where one hop really goes: the URL to request and the headers/extensions that keep the name."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


@dataclass(frozen=True)
class TrustedRoute:
    """One origin of ours and the paths on it a pasted URL may reach even at a private address.

    ``path`` must match the whole path (no dot segments, no percent-escapes: the id pattern
    has neither), so ``/c/x/../../admin`` or ``/c/%2e%2e/`` is not trusted.
    """

    scheme: str
    host: str
    port: int
    path: re.Pattern[str]

    @classmethod
    def under(cls, base_url: str, *patterns: str) -> TrustedRoute | None:
        """The route for ``patterns`` (regexes of the path after ``base_url``'s own path)."""
        try:
            parts = urlsplit(base_url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
            host = _ascii_host(parts.hostname or "")
        except ValueError:  # FetchRefused included: a base URL we cannot read trusts nothing
            return None
        if not host or port is None:
            return None
        prefix = re.escape(parts.path.rstrip("/"))
        return cls(parts.scheme, host, port, re.compile(prefix + "(?:" + "|".join(patterns) + ")"))

    def allows(self, scheme: str, host: str, port: int, path: str) -> bool:
        return (scheme, host, port) == (self.scheme, self.host, self.port) and self.path.fullmatch(path) is not None


def _ascii_host(host: str) -> str:
    host = host.lower().rstrip(".")
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise FetchRefused("the URL's host is not a valid name") from None


def _refuse_unsafe_characters(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    for char in url:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cs"):  # C0, DEL, C1, NUL; lone surrogates
            raise FetchRefused(f"the URL contains a control character or whitespace (U+{ord(char):04X}); "
                               "paste it again without it")


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"the host {host!r} does not resolve", transient=True) from None
    return sorted({info[4][0] for info in infos})


def is_public(address: str) -> bool:
    """True only for a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip.teredo:
            ip = ip.teredo[1]
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


_public = is_public  # the name the first tests used


async def check_url(url: str, trusted_hosts: set[str], trusted_routes: Iterable[TrustedRoute] = ()) -> Target:
    """Refuse ``url`` unless it may be fetched; where to connect if it may."""
    if not isinstance(url, str):
        raise FetchRefused("the URL is malformed")
    _refuse_unsafe_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("the URL is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("only http and https URLs can be verified")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with credentials in them are not fetched")
    if port == 0:
        raise FetchRefused("the URL is malformed")
    host = _ascii_host(parts.hostname)
    if host in trusted_hosts:
        return Target(_rebuilt(parts), {}, {})
    port = port or DEFAULT_PORTS[parts.scheme]
    if any(route.allows(parts.scheme, host, port, parts.path) for route in trusted_routes):
        return Target(_rebuilt(parts), {}, {})
    addresses = await _addresses(host, port)
    if not addresses:
        raise FetchRefused(f"the host {host!r} does not resolve", transient=True)
    for address in addresses:
        if not is_public(address):
            raise FetchRefused(f"{host} points to a private or local address, which is not fetched")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)


def _rebuilt(parts: SplitResult) -> str:
    """The URL as we parsed it (no fragment), so httpx cannot read a different one."""
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


async def fetch_json(client: httpx.AsyncClient, url: str, *, trusted_hosts: set[str], max_bytes: int,
                     timeout: float, trusted_routes: Iterable[TrustedRoute] = ()) -> dict:
    """GET ``url`` as a JSON object under every rule above."""
    trusted = {h.lower() for h in trusted_hosts}
    routes = tuple(trusted_routes)

    async def run() -> dict:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = await check_url(current, trusted, routes)
            async with client.stream("GET", target.url, follow_redirects=False,
                                     headers={"Accept": ACCEPT, **target.headers},
                                     extensions=target.extensions) as r:
                if r.is_redirect:
                    location = r.headers.get("location")
                    if not location:
                        raise FetchRefused("the URL redirected nowhere")
                    try:
                        current = urljoin(current, location)
                    except ValueError:
                        raise FetchRefused("the URL redirected to a malformed address") from None
                    continue
                if r.status_code != 200:
                    raise FetchRefused(f"the URL answered {r.status_code}",
                                       transient=r.status_code >= 500 or r.status_code in (408, 429))
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(f"the document is larger than {max_bytes // 1024} kB")
                body = bytearray()
                async for part in r.aiter_bytes():
                    body += part
                    if len(body) > max_bytes:
                        raise FetchRefused(f"the document is larger than {max_bytes // 1024} kB")
            try:
                data = safejson.loads(bytes(body), max_bytes=max_bytes)
            except safejson.UnsafeJSON as exc:
                if exc.not_json:
                    raise FetchRefused("the URL did not return JSON") from None
                raise FetchRefused(f"the URL's document is refused: {exc.message}") from None
            if not isinstance(data, dict):
                raise FetchRefused("the URL did not return a JSON object")
            return data
        raise FetchRefused(f"the URL redirected more than {MAX_REDIRECTS} times")

    try:
        return await asyncio.wait_for(run(), timeout)
    except FetchRefused:
        raise
    except asyncio.TimeoutError:
        raise FetchRefused(f"the URL did not answer within {timeout:g} s", transient=True) from None
    except httpx.InvalidURL:
        raise FetchRefused("the URL is malformed") from None
    except (httpx.HTTPError, httpx.StreamError, httpx.CookieConflict, ValueError) as exc:
        # ValueError: e.g. a header value httpx cannot encode; UnicodeError is one.
        raise FetchRefused(f"the URL could not be fetched ({type(exc).__name__})",
                           transient=isinstance(exc, (httpx.TimeoutException, httpx.NetworkError))) from None

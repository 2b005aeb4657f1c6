"""Whether a URL someone else chose may be reached, and at which address (docs/architecture.md).

Shared by the verifier's fetches of pasted URLs (services/verifier/fetch.py) and the issuer's
webhook deliveries (services/issuer/webhooks/deliverer.py):

* only ``http`` and ``https``, no user name or password in the URL;
* every address the host resolves to must be public (no private, loopback, link-local,
  multicast, reserved or unspecified ranges, IPv4-mapped forms included) unless the host
  is trusted — and the connection then goes to the very address that was checked (the
  ``Host`` header and TLS server name keep the real name), so a DNS answer that changes
  between the check and the connection (rebinding) cannot reach an internal address;
* a URL with a control character, NUL or whitespace in it, or one that does not parse, is
  refused before anything else (``FetchRefused``, never an httpx exception).

Trust: a host in ``trusted_hosts`` (the operator's ``MICROCRED_TRUSTED_HOSTS``) may be private.
``allow_loopback`` lets loopback addresses (127.0.0.0/8, ::1) through as well, still pinned
(development: a webhook receiver on the developer's machine); every other private range stays
refused. :class:`TrustedRoute` trusts one origin of ours on some paths only.

Resolving a name is the only I/O here; :func:`check_url` does it on the event loop,
:func:`check_url_blocking` in the calling thread (a synchronous route, a worker thread).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

MAX_URL_LENGTH = 2048
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


def parse_hosts(text: str) -> set[str]:
    """``MICROCRED_TRUSTED_HOSTS`` (comma-separated) as the set :func:`check_url` takes."""
    return {h.strip().lower().rstrip(".") for h in (text or "").split(",") if h.strip()}


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


def _unique(infos) -> list[str]:
    return sorted({info[4][0] for info in infos})


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"the host {host!r} does not resolve", transient=True) from None
    return _unique(infos)


def _addresses_blocking(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"the host {host!r} does not resolve", transient=True) from None
    return _unique(infos)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip.teredo:
            ip = ip.teredo[1]
    return ip


def is_public(address: str) -> bool:
    """True only for a globally routable unicast address."""
    ip = _ip(address)
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def is_loopback(address: str) -> bool:
    return _ip(address).is_loopback


@dataclass(frozen=True)
class _Plan:
    """A URL that passed every check that needs no DNS; ``target`` is set when no DNS is needed at all."""

    parts: SplitResult
    host: str
    port: int
    target: Target | None


def _plan(url: str, trusted_hosts: set[str], trusted_routes: Iterable[TrustedRoute]) -> _Plan:
    if not isinstance(url, str):
        raise FetchRefused("the URL is malformed")
    _refuse_unsafe_characters(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("the URL is malformed") from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with credentials in them are not fetched")
    if port == 0:
        raise FetchRefused("the URL is malformed")
    host = _ascii_host(parts.hostname)
    default_port = port or DEFAULT_PORTS[parts.scheme]
    if host in trusted_hosts:
        return _Plan(parts, host, default_port, Target(_rebuilt(parts), {}, {}))
    if any(route.allows(parts.scheme, host, default_port, parts.path) for route in trusted_routes):
        return _Plan(parts, host, default_port, Target(_rebuilt(parts), {}, {}))
    return _Plan(parts, host, default_port, None)


def _pinned(plan: _Plan, addresses: list[str], allow_loopback: bool) -> Target:
    host, port, parts = plan.host, plan.port, plan.parts
    if not addresses:
        raise FetchRefused(f"the host {host!r} does not resolve", transient=True)
    for address in addresses:
        if not (is_public(address) or (allow_loopback and is_loopback(address))):
            raise FetchRefused(f"{host} points to a private or local address, which is not fetched")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)


async def check_url(url: str, trusted_hosts: set[str], trusted_routes: Iterable[TrustedRoute] = (), *,
                    allow_loopback: bool = False) -> Target:
    """Refuse ``url`` unless it may be fetched; where to connect if it may."""
    plan = _plan(url, trusted_hosts, trusted_routes)
    if plan.target is not None:
        return plan.target
    return _pinned(plan, await _addresses(plan.host, plan.port), allow_loopback)


def check_url_blocking(url: str, trusted_hosts: set[str], *, allow_loopback: bool = False) -> Target:
    """:func:`check_url` resolving in the calling thread."""
    plan = _plan(url, trusted_hosts, ())
    if plan.target is not None:
        return plan.target
    return _pinned(plan, _addresses_blocking(plan.host, plan.port), allow_loopback)


def _rebuilt(parts: SplitResult) -> str:
    """The URL as we parsed it (no fragment), so httpx cannot read a different one."""
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))

"""Fetching a pasted URL, which is hostile until proven otherwise (DESIGN §8).

* only ``http`` and ``https``, no user name or password in the URL;
* every address the host resolves to must be public (no private, loopback, link-local,
  multicast, reserved or unspecified ranges, IPv4-mapped forms included) unless the host
  is trusted — and the connection then goes to the very address that was checked (the
  ``Host`` header and TLS server name keep the real name), so a DNS answer that changes
  between the check and the connection (rebinding) cannot reach an internal address;
* redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each one checked again;
* the body is capped while it streams (after decompression), the whole exchange in time;
* only a JSON object comes back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import orjson

MAX_REDIRECTS = 3
ACCEPT = "application/ld+json, application/json;q=0.9"


class FetchRefused(ValueError):
    """The URL may not be fetched, or what came back is not usable; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one hop really goes: the URL to request and the headers/extensions that keep the name."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"the host {host!r} does not resolve") from None
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


async def check_url(url: str, trusted_hosts: set[str]) -> Target:
    """Refuse ``url`` unless it may be fetched; where to connect if it may."""
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
    host = parts.hostname.lower().rstrip(".")
    if host in trusted_hosts:
        return Target(url, {}, {})
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    if not addresses:
        raise FetchRefused(f"the host {host!r} does not resolve")
    for address in addresses:
        if not is_public(address):
            raise FetchRefused(f"{host} points to a private or local address, which is not fetched")
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)


async def fetch_json(client: httpx.AsyncClient, url: str, *, trusted_hosts: set[str], max_bytes: int,
                     timeout: float) -> dict:
    """GET ``url`` as a JSON object under every rule above."""
    trusted = {h.lower() for h in trusted_hosts}

    async def run() -> dict:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = await check_url(current, trusted)
            async with client.stream("GET", target.url, follow_redirects=False,
                                     headers={"Accept": ACCEPT, **target.headers},
                                     extensions=target.extensions) as r:
                if r.is_redirect:
                    location = r.headers.get("location")
                    if not location:
                        raise FetchRefused("the URL redirected nowhere")
                    current = urljoin(current, location)
                    continue
                if r.status_code != 200:
                    raise FetchRefused(f"the URL answered {r.status_code}")
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(f"the document is larger than {max_bytes // 1024} kB")
                body = bytearray()
                async for part in r.aiter_bytes():
                    body += part
                    if len(body) > max_bytes:
                        raise FetchRefused(f"the document is larger than {max_bytes // 1024} kB")
            try:
                data = orjson.loads(bytes(body))
            except orjson.JSONDecodeError:
                raise FetchRefused("the URL did not return JSON") from None
            if not isinstance(data, dict):
                raise FetchRefused("the URL did not return a JSON object")
            return data
        raise FetchRefused(f"the URL redirected more than {MAX_REDIRECTS} times")

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise FetchRefused(f"the URL did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchRefused(f"the URL could not be fetched ({type(exc).__name__})") from None

"""Fetching a pasted URL, which is hostile until proven otherwise (DESIGN §8).

Only http(s); the host's every address must be public (no private, loopback, link-local,
multicast or reserved ranges) unless the host is configured as trusted; redirects are
followed by hand so that each hop is checked again; the body is capped in size and the
whole exchange in time; only JSON comes back.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx
import orjson

MAX_REDIRECTS = 3


class FetchRefused(ValueError):
    """The URL may not be fetched, or what came back is not usable; the message says why."""


async def _addresses(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise FetchRefused(f"the host {host!r} does not resolve") from None
    return sorted({info[4][0] for info in infos})


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


async def check_url(url: str, trusted_hosts: set[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("only http and https URLs can be verified")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials in them are not fetched")
    host = parts.hostname.lower()
    if host in trusted_hosts:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in await _addresses(host, port):
        if not _public(address):
            raise FetchRefused(f"{host} points to a private or local address, which is not fetched")


async def fetch_json(client: httpx.AsyncClient, url: str, *, trusted_hosts: set[str], max_bytes: int,
                     timeout: float) -> dict:
    """GET ``url`` as JSON under every rule above."""
    async def run() -> dict:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            await check_url(current, trusted_hosts)
            async with client.stream("GET", current, follow_redirects=False,
                                     headers={"Accept": "application/ld+json, application/json"}) as r:
                if r.is_redirect:
                    location = r.headers.get("location")
                    if not location:
                        raise FetchRefused("a redirect without a destination")
                    current = urljoin(current, location)
                    continue
                if r.status_code != 200:
                    raise FetchRefused(f"the URL answered {r.status_code}")
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchRefused(f"the document is larger than {max_bytes} bytes")
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchRefused(f"the document is larger than {max_bytes} bytes")
            try:
                data = orjson.loads(bytes(body))
            except orjson.JSONDecodeError:
                raise FetchRefused("the URL did not return JSON") from None
            if not isinstance(data, dict):
                raise FetchRefused("the URL did not return a JSON object")
            return data
        raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")

    try:
        return await asyncio.wait_for(run(), timeout)
    except asyncio.TimeoutError:
        raise FetchRefused(f"the URL did not answer within {timeout:.0f}s") from None
    except httpx.HTTPError as exc:
        raise FetchRefused(f"the URL could not be fetched ({type(exc).__name__})") from None

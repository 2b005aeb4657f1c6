"""Fetching a pasted URL, which is hostile until proven otherwise (docs/architecture.md).

Which URLs and addresses may be reached is services.core.urlsafety's (shared with the issuer's
webhooks); this module adds redirects, the body cap and the JSON rules:

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
from collections.abc import Iterable
from urllib.parse import urljoin

import httpx

from services.core import safejson
# The URL and address rules live in core (the issuer's webhook deliveries keep them too);
# re-exported here for the verifier's modules and tests.
from services.core.urlsafety import (DEFAULT_PORTS, MAX_URL_LENGTH, FetchRefused, Target, TrustedRoute,  # noqa: F401
                                     check_url, is_public)

_public = is_public  # the name the first tests used

MAX_REDIRECTS = 3
ACCEPT = "application/ld+json, application/json;q=0.9"


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

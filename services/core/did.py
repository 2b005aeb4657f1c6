"""did:web identifiers for services of ours: pure functions, shared by the issuer and the verifier."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def did_web(base_url: str, *segments: str) -> str:
    """``did:web:<host>[%3A<port>][:<path segments>][:<segments>]`` for a service at ``base_url``.

    It resolves (did:web spec) to ``https://<host>[:port]/<path>/<segments>/did.json``.
    """
    parts = urlsplit(base_url)
    host = parts.hostname or "localhost"
    if parts.port:
        host += "%3A" + str(parts.port)
    path = [quote(s, safe="") for s in parts.path.split("/") if s]
    return ":".join(["did:web", host, *path, *(quote(s, safe="") for s in segments)])

"""Our resource ids: a kind prefix and 96 random bits (``iss_…``, ``key_…``, ``ach_…``, ``bat_…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"

"""What the issuer's routers share: path parameter types, and waking a background worker."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

CredentialId = Annotated[str, Path(min_length=1, max_length=64)]
ResourceId = Annotated[str, Path(min_length=1, max_length=64)]


async def wake(request: Request, name: str) -> None:
    """Set the app's ``wake_relay`` or ``wake_batches`` event (absent when that worker runs elsewhere).

    Async (setting an event does not block), so that a background task costs no thread hop."""
    event = getattr(request.app.state, name, None)
    if event is not None:
        event.set()

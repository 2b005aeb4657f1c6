"""The floor under any route: a bare Starlette app with two JSON routes, for ``bench.verifier``
and ``bench.issuance``.

Served by the same uvicorn as the services (``services.ops.serve``), it tells what the HTTP
server and the benchmark's client cost before any of our code runs.
"""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(_request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def echo(request) -> JSONResponse:
    """A JSON body in, a small JSON answer out: the HTTP floor under ``bench.issuance``'s POST."""
    body = await request.json()
    return JSONResponse({"id": "x", "recipient": body.get("recipient")}, status_code=200)


def create_app() -> Starlette:
    return Starlette(routes=[Route("/health", health), Route("/echo", echo, methods=["POST"])])

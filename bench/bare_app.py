"""The floor under any route: a bare Starlette app with one JSON route, for ``bench.verifier``.

Served by the same uvicorn as the services (``services.ops.serve``), it tells what the HTTP
server and the benchmark's client cost before any of our code runs.
"""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(_request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app() -> Starlette:
    return Starlette(routes=[Route("/health", health)])

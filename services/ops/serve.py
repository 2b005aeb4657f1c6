"""``python -m services.ops.serve module:factory --port N``: one service under uvicorn, quiet when idle.

uvicorn's server loop wakes ten times a second, doing nothing but looking for a stop and
refreshing its ``Date`` header; three services make thirty wake-ups a second of an idle
stack (docs/registry.md, "What doing nothing costs"). This is the same ``uvicorn.Server`` with that
loop at once a second — the header is still refreshed every second — and a stop signal
waking it at once, so stopping is as quick as before. Several workers (``--workers``) use
plain uvicorn's supervisor.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

TICK = 1.0  # seconds between two looks of the server loop when nothing asks it to stop


class QuietServer(uvicorn.Server):
    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # on_tick refreshes the Date header at multiples of 10
            try:
                await asyncio.wait_for(self._stop.wait(), TICK)
            except TimeoutError:
                pass
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig, frame) -> None:  # type: ignore[no-untyped-def]
        super().handle_exit(sig, frame)
        loop = getattr(self, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop.set)


def main(argv: list[str] | None = None) -> None:
    QuietServer(config(parser().parse_args(argv))).run()


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("factory", help="module:function that returns the ASGI app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    # uvicorn's own options and defaults: forwarded headers are read from the addresses allowed
    # (its FORWARDED_ALLOW_IPS, else loopback); a load balancer's address is given here.
    parser.add_argument("--proxy-headers", action=argparse.BooleanOptionalAction, default=True,
                        help="read X-Forwarded-For / -Proto from --forwarded-allow-ips")
    parser.add_argument("--forwarded-allow-ips", default=None, help="addresses whose forwarded headers are trusted")
    return parser


def config(args: argparse.Namespace) -> uvicorn.Config:
    return uvicorn.Config(args.factory, factory=True, host=args.host, port=args.port, access_log=False,
                          log_level=args.log_level, proxy_headers=args.proxy_headers,
                          forwarded_allow_ips=args.forwarded_allow_ips)


if __name__ == "__main__":
    main()

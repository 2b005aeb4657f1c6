"""A token bucket per client, in process: each replica limits its own share of the traffic.

Behind a load balancer the client address comes from ``X-Forwarded-For`` only when uvicorn
is told to trust the balancer (``--forwarded-allow-ips``); otherwise every client would
share the balancer's bucket.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    """``per_minute`` requests a minute per client, with a burst of a quarter of that (at least 5)."""

    def __init__(self, per_minute: int, *, max_clients: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(per_minute, 1) / 60.0
        self.capacity = float(max(per_minute // 4, 5))
        self.max_clients = max_clients
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def take(self, client: str) -> bool:
        """Spend one token of ``client``'s bucket; False when it is empty."""
        now = self.clock()
        tokens, last = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if client not in self.buckets and len(self.buckets) >= self.max_clients:
            self._evict(now)
        if tokens < 1:
            self.buckets[client] = (tokens, now)
            return False
        self.buckets[client] = (tokens - 1, now)
        return True

    def retry_after(self, client: str) -> int:
        """Whole seconds until ``client`` has a token again (for the ``Retry-After`` header)."""
        tokens, last = self.buckets.get(client, (self.capacity, self.clock()))
        tokens = min(self.capacity, tokens + (self.clock() - last) * self.rate)
        return max(1, math.ceil((1 - tokens) / self.rate)) if tokens < 1 else 0

    def _evict(self, now: float) -> None:
        # Buckets that have refilled are indistinguishable from new ones: drop those first.
        full = [c for c, (t, last) in self.buckets.items() if t + (now - last) * self.rate >= self.capacity]
        for client in full:
            del self.buckets[client]
        if len(self.buckets) >= self.max_clients:  # a flood of distinct clients: start over
            self.buckets.clear()

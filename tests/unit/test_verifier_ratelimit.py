"""The per-client token bucket."""

from __future__ import annotations

from services.verifier.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_burst_then_is_refused_then_refills():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, clock=clock)
    allowed = sum(limiter.take("1.2.3.4") for _ in range(40))
    assert allowed == limiter.capacity == 15
    assert not limiter.take("1.2.3.4")
    assert limiter.retry_after("1.2.3.4") == 1
    clock.now += 2.0
    assert limiter.take("1.2.3.4") and limiter.take("1.2.3.4")
    assert not limiter.take("1.2.3.4")


def test_clients_have_their_own_buckets():
    limiter = RateLimiter(per_minute=20, clock=Clock())
    while limiter.take("a"):
        pass
    assert limiter.take("b")


def test_memory_stays_bounded_under_many_clients():
    clock = Clock()
    limiter = RateLimiter(per_minute=60, max_clients=100, clock=clock)
    for i in range(1000):
        limiter.take(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter.buckets) <= 100
    # An idle client whose bucket refilled is forgotten first; a busy one is remembered.
    limiter = RateLimiter(per_minute=60, max_clients=3, clock=clock)
    while limiter.take("busy"):
        pass
    limiter.take("idle-1")
    limiter.take("idle-2")
    clock.now += 5.0
    limiter.take("new")
    assert "busy" in limiter.buckets and "idle-1" not in limiter.buckets

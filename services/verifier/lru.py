"""A bounded least-recently-used map: the verifier's caches of immutable or short-lived facts."""

from __future__ import annotations

from collections import OrderedDict


class LRU(OrderedDict):
    """``put`` keeps at most ``size`` entries, dropping the least recently put first."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)

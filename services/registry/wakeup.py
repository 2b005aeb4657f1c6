"""Waking the anchoring worker when the API queues work, instead of polling fast
(services/core/wakeup.py: NOTIFY on PostgreSQL, a SQLite file's data_version elsewhere)."""

from __future__ import annotations

from services.core import wakeup
from services.registry.repository import WORK_CHANNEL


class Wakeup(wakeup.Wakeup):
    def __init__(self, database_url: str) -> None:
        super().__init__(database_url, WORK_CHANNEL)

"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from tests.integration.issuer_support import issuer_client


@pytest.fixture
def client(database_url, tmp_path):
    """The issuer app in process on a freshly migrated database (SQLite, then PostgreSQL), with a
    fake registry; a module that means another client defines its own ``client``."""
    with issuer_client(database_url, tmp_path) as c:
        yield c

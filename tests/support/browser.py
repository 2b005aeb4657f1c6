"""Debian's Chromium driven by Playwright, for the e2e tests of pages (it downloads no browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MICROCRED_CHROMIUM", "/usr/bin/chromium")
# Screenshots for a person to look at (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> Iterator:
    """A launched browser, closed after; the test is skipped, saying why, where there is no Chromium."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (Debian package 'chromium'; "
                    "make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()

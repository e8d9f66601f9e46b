"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and a seeded
console served on a free port for the module. Skipped only when Chromium is missing
(``.ci/run`` installs it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.console_server import CHROMIUM, CHROMIUM_ARGS, Console, running_console

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, sync_playwright


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AILAYER_")}
    os.environ["AILAYER_CONFIG"] = str(tmp_path_factory.mktemp("config") / "none.yaml")
    try:
        with running_console(tmp_path_factory.mktemp("console") / ".ailayer") as started:
            yield started
    finally:
        os.environ.pop("AILAYER_CONFIG", None)
        os.environ.update(saved)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()

"""What the console's browser tests do on every page: sign in through the form, and ask
axe-core for the violations that count (serious and critical)."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.support.console_server import Console


def sign_in(page: Page, console: Console, key: str, path: str = "/ui/") -> None:
    """Open ``path``, land on the sign-in form, sign in with ``key``."""
    page.goto(console.url + path)
    expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()


def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, as readable lines."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]

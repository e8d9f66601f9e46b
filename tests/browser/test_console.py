"""The web console in headless Chromium: sign in, every page (and axe-core finds no
serious or critical violation), numbers as the API gives them, promote and roll back a
canary through the buttons, a viewer refused, CSRF refused, an ended session, another
tenant's object. With AILAYER_SCREENSHOTS=1 the main pages are saved to docs/images/."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from ailayer.core.clock import utcnow
from ailayer.db.tables import ui_sessions
from tests.support.browser import serious, sign_in
from tests.support.console import CANARY, day_totals, policy
from tests.support.console_server import Console
from tests.support.deployments import deploy

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
PAGES = {
    "overview": ("/ui/", "Overview"),
    "models": ("/ui/models", "Models"),
    "model": ("/ui/models/fraud", "fraud"),
    "version": ("/ui/models/fraud/versions/2", "fraud v2"),
    "deployments": ("/ui/deployments", "Deployments"),
    "deployment": ("/ui/deployments/fraud", "fraud"),
    "ab": ("/ui/deployments/pricing", "pricing"),
}
SCREENSHOTS = ("overview", "version", "deployment")
# read once at import: each test runs with the AILAYER_* variables cleared
TAKE_SCREENSHOTS = os.environ.get("AILAYER_SCREENSHOTS") == "1"


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_opens_after_sign_in_and_passes_axe(
    page: Page, console: Console, name: str
) -> None:
    path, heading = PAGES[name]
    errors: list[str] = []  # script errors and Content Security Policy refusals
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, console, console.acme.keys["developer"], path)  # with its buttons
    expect(page).to_have_url(console.url + path)
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    assert serious(page) == []
    assert errors == []
    if TAKE_SCREENSHOTS and name in SCREENSHOTS:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)


def test_the_sign_in_page_passes_axe(page: Page, console: Console) -> None:
    page.goto(console.url + "/ui/signin")
    assert serious(page) == []


def test_the_numbers_shown_are_the_apis(page: Page, console: Console) -> None:
    sign_in(page, console, console.acme.keys["viewer"])
    row = page.locator('tr[data-endpoint="fraud"]')
    shown = int(row.locator('[data-metric="requests-day"]').inner_text().replace(",", ""))
    rate = row.locator('[data-metric="error-rate-day"]').inner_text()
    api = console.acme
    requests, errors = day_totals(api)
    assert shown == requests and requests >= 13  # 13 requests, a split one counted per variant
    assert errors >= 1
    assert rate == f"{errors / requests * 100:.2f}%"

    page.goto(console.url + "/ui/models")
    model = api.client.get("/v1/models/fraud", headers=api.headers("viewer")).json()
    latest = page.locator('tr[data-model="fraud"] [data-field="latest_version"]')
    expect(latest).to_have_text(str(model["latest_version"]))
    page.goto(console.url + "/ui/models/fraud/versions/2")
    auc = api.client.get("/v1/models/fraud/versions/2", headers=api.headers("viewer")).json()
    expect(page.locator('tr[data-metric="auc"] td.num')).to_have_text(
        f"{auc['metrics']['auc']:,.4f}"
    )

    page.goto(console.url + "/ui/deployments/fraud")
    for variant in policy(api)["variants"]:
        cell = page.locator(f'tr[data-variant="{variant["name"]}"] [data-field="share"]')
        expect(cell).to_have_text(f"{variant['share']}%")


def test_the_ab_results_are_the_apis(page: Page, console: Console) -> None:
    api = console.acme
    sign_in(page, console, api.keys["viewer"], "/ui/deployments/pricing")
    result = api.client.get(
        "/v1/endpoints/pricing/experiment",
        params={"metric": "accuracy", "effect": 0.05},
        headers=api.headers("viewer"),
    ).json()
    for variant in result["variants"]:
        row = page.locator(f'tr[data-variant="{variant["name"]}"]')
        expect(row.locator('[data-field="outcomes"]')).to_have_text(f"{variant['outcomes']:,}")
        expect(row.locator('[data-field="mean"]')).to_have_text(f"{variant['mean']:,.4f}")
    [comparison] = result["comparisons"]
    row = page.locator(f'tr[data-comparison="{comparison["variant"]}"]')
    low, high = comparison["interval"]
    expect(row.locator('[data-field="difference"]')).to_have_text(
        f"{comparison['difference']:,.4f}"
    )
    expect(row.locator('[data-field="interval"]')).to_have_text(f"[{low:,.4f}, {high:,.4f}]")
    expect(row.locator('[data-field="verdict"]')).to_have_text(comparison["verdict"])


def test_promote_and_roll_back_a_canary_through_the_buttons(page: Page, console: Console) -> None:
    api = console.acme
    assert deploy(api, "checkout", CANARY).status_code == 200
    sign_in(page, console, api.keys["developer"], "/ui/deployments/checkout")
    page.get_by_role("link", name="Promote to the next step…").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Promote to the next step")
    page.get_by_role("button", name="Yes, promote to the next step").click()
    expect(page.get_by_role("status")).to_contain_text("Done: Promote to the next step")
    moved = policy(api, "checkout")
    assert moved["step"] == 1 and moved["revision"] == 2
    expect(page.locator('tr[data-variant="canary"] [data-field="share"]')).to_have_text("50%")

    page.get_by_role("link", name="Roll back…").click()
    page.get_by_label("Reason").fill("errors on mobile")
    page.get_by_role("button", name="Yes, roll back").click()
    expect(page.get_by_role("status")).to_contain_text("Done: Roll back")
    back = policy(api, "checkout")
    assert back["state"] == "rolled_back" and back["reason"] == "errors on mobile"
    expect(page.get_by_role("link", name="Roll back…")).to_have_count(0)  # nothing to act on


def test_a_stale_confirmation_changes_nothing(page: Page, console: Console) -> None:
    api = console.acme
    assert deploy(api, "basket", CANARY).status_code == 200
    sign_in(page, console, api.keys["admin"], "/ui/deployments/basket")
    page.get_by_role("link", name="Promote to 100% now…").click()
    rolled = api.client.post(
        "/v1/endpoints/basket/deployment/rollback", json={}, headers=api.headers()
    )
    assert rolled.status_code == 200
    page.get_by_role("button", name="Yes, promote to 100% now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Changed meanwhile")
    expect(page.get_by_role("alert")).to_contain_text("nothing was changed")
    assert policy(api, "basket")["state"] == "rolled_back"


def test_a_viewer_sees_no_buttons_and_its_post_is_refused(page: Page, console: Console) -> None:
    sign_in(page, console, console.acme.keys["viewer"], "/ui/deployments/fraud")
    expect(page.get_by_role("heading", name="Live traffic split")).to_be_visible()
    expect(page.locator("[data-action]")).to_have_count(0)
    before = policy(console.acme)
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = page.request.post(
        console.url + "/ui/deployments/fraud/promote",
        form={"csrf_token": csrf or "", "revision": str(before["revision"])},
        max_redirects=0,
    )
    assert answer.status == 403 and "may not models:write" in answer.text()
    assert policy(console.acme) == before


def test_a_form_without_the_right_csrf_token_is_refused(page: Page, console: Console) -> None:
    before = policy(console.acme)
    sign_in(page, console, console.acme.keys["admin"], "/ui/deployments/fraud")
    page.get_by_role("link", name="Roll back…").click()
    page.locator('form.stack input[name="csrf_token"]').evaluate("input => input.value = 'forged'")
    page.get_by_role("button", name="Yes, roll back").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The form was refused")
    assert policy(console.acme) == before


def test_an_ended_session_goes_back_to_sign_in_showing_nothing(
    page: Page, console: Console
) -> None:
    sign_in(page, console, console.acme.keys["viewer"], "/ui/models")
    expect(page.locator('tr[data-model="fraud"]')).to_be_visible()
    with console.services.db.write() as conn:
        conn.execute(update(ui_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    page.reload()
    expect(page).to_have_url(re.compile(r"/ui/signin\?ended=1"))
    expect(page.get_by_role("alert")).to_have_text("Your session ended. Sign in again.")
    assert "fraud" not in page.content()
    expect(page.get_by_role("navigation", name="Console")).to_have_count(0)


def test_signing_out_ends_the_session(page: Page, console: Console) -> None:
    sign_in(page, console, console.acme.keys["viewer"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(console.url + "/ui/signin")
    page.goto(console.url + "/ui/models")
    expect(page).to_have_url(re.compile(r"/ui/signin"))


def test_another_tenants_object_is_not_found(page: Page, console: Console) -> None:
    sign_in(page, console, console.globex.keys["admin"], "/ui/models/fraud")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    page.goto(console.url + "/ui/deployments/fraud")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    page.goto(console.url + "/ui/models")
    expect(page.locator('tr[data-model="churn"]')).to_be_visible()
    expect(page.locator('tr[data-model="fraud"]')).to_have_count(0)


def test_a_sortable_table_sorts_by_a_header_and_times_show_in_local_time(
    page: Page, console: Console
) -> None:
    sign_in(page, console, console.acme.keys["viewer"], "/ui/models/fraud")
    versions = page.locator("tr[data-version]")
    expect(versions).to_have_count(2)
    assert versions.first.get_attribute("data-version") == "2"  # newest first
    page.get_by_role("button", name="Version").click()
    expect(page.get_by_role("columnheader", name="Version")).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert [v.get_attribute("data-version") for v in versions.all()] == ["1", "2"]
    first_time = page.locator("time").first
    expect(first_time).to_have_attribute("title", re.compile(r"UTC$"))  # the UTC text kept

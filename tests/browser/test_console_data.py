"""The console's monitoring, features, events, alerts, pipelines, audit and cost pages in
headless Chromium: each opens after sign-in and axe-core finds no serious or critical
violation; the numbers shown are the API's; charts are readable as tables."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ailayer.monitoring.log.rollup import LogRollup
from tests.support.browser import serious, sign_in
from tests.support.console import day_totals
from tests.support.console_server import Console

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOTS = ("monitoring-fraud",)
SHOOT = os.environ.get("AILAYER_SCREENSHOTS") == "1"  # read before the fixture clears AILAYER_*
PAGES = {
    "monitoring": ("/ui/monitoring", "Monitoring", "viewer"),
    "monitoring-fraud": ("/ui/monitoring/fraud", "fraud", "viewer"),
    "features": ("/ui/features", "Features", "viewer"),
    "events": ("/ui/events", "Events", "viewer"),
    "alerts": ("/ui/alerts", "Alerts", "viewer"),
    "pipelines": ("/ui/pipelines", "Pipelines", "viewer"),
    "audit": ("/ui/audit", "Audit log", "admin"),
    "cost": ("/ui/cost", "Cost", "viewer"),
}


@pytest.fixture(scope="module")
def rolled_up(console: Console) -> Console:
    """The seeded log folded into the rollups, as the rollup thread of ``up`` does."""
    services = console.services
    services.prediction_log.flush()
    LogRollup(services.db, services.offline.tenant_root, grace=timedelta(0)).run_once(
        datetime.now(UTC) + timedelta(seconds=1)
    )
    return console


def computed(page: Page, timeout: float = 60.0) -> None:
    """Reload until no part of the page is still being computed in the background."""
    deadline = time.monotonic() + timeout
    while "Being computed" in page.content():
        assert time.monotonic() < deadline, "background reports never finished"
        time.sleep(0.5)
        page.reload()


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_opens_and_passes_axe(page: Page, rolled_up: Console, name: str) -> None:
    path, heading, role = PAGES[name]
    errors: list[str] = []  # script errors and Content Security Policy refusals
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, rolled_up, rolled_up.acme.keys[role], path)
    expect(page).to_have_url(rolled_up.url + path)
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    computed(page)  # the drift, quality and concept parts too
    assert serious(page) == []
    assert errors == []
    if SHOOT and name in SCREENSHOTS:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)


def test_explanations_and_fairness_open_on_request_and_pass_axe(
    page: Page, rolled_up: Console
) -> None:
    sign_in(page, rolled_up, rolled_up.acme.keys["viewer"], "/ui/monitoring/fraud")
    page.goto(rolled_up.url + "/ui/monitoring/fraud?explain=true&attribute=amount")
    computed(page)
    expect(page.get_by_role("img", name=re.compile("Global importance"))).to_be_visible()
    expect(
        page.get_by_role("img", name="Attributions of the latest logged prediction")
    ).to_be_visible()
    assert serious(page) == []


def test_monitoring_numbers_are_the_apis(page: Page, rolled_up: Console) -> None:
    api = rolled_up.acme
    sign_in(page, rolled_up, api.keys["viewer"], "/ui/monitoring")
    row = page.locator('tr[data-endpoint="fraud"]')
    shown = int(row.locator('[data-metric="requests-day"]').inner_text().replace(",", ""))
    rate = row.locator('[data-metric="error-rate-day"]').inner_text()
    requests, errors = day_totals(api)
    assert shown == requests and requests >= 13
    assert rate == f"{errors / requests * 100:.2f}%"

    page.goto(rolled_up.url + "/ui/monitoring/fraud")
    chart = page.get_by_role("img", name="Requests per half hour")
    expect(chart).to_be_visible()
    page.get_by_text("Requests per half hour: the numbers").click()
    cells = page.locator("figure.chart").first.locator("tbody tr td:nth-child(3)")
    assert sum(int(c) for c in cells.all_inner_texts()) == requests


def test_the_audit_page_shows_the_apis_entries_and_filters(page: Page, rolled_up: Console) -> None:
    api = rolled_up.acme
    sign_in(page, rolled_up, api.keys["admin"], "/ui/audit")
    listed = api.client.get("/v1/audit", headers=api.headers()).json()
    first = page.locator("#audit tbody tr").first
    expect(first).to_have_attribute("data-seq", str(listed[0]["seq"]))
    prefix = listed[-1]["action"].split(".")[0] + "."
    wanted = [e["seq"] for e in listed if e["action"].startswith(prefix)]
    page.get_by_label("Action starts with").fill(prefix)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=" + re.escape(prefix)))
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(min(len(wanted), 50))
    assert [int(s) for s in rows.evaluate_all("rs => rs.map(r => r.dataset.seq)")] == wanted[:50]


def test_the_alerts_page_lists_the_apis_rules(page: Page, rolled_up: Console) -> None:
    api = rolled_up.acme
    rule = {
        "name": "slow",
        "kind": "metric",
        "endpoint": "fraud",
        "metric": "p99_ms",
        "op": ">",
        "threshold": 500,
    }
    made = api.client.post("/v1/alerts/rules", json=rule, headers=api.headers())
    assert made.status_code in (200, 201), made.text
    sign_in(page, rolled_up, api.keys["viewer"], "/ui/alerts")
    rules = api.client.get("/v1/alerts/rules", headers=api.headers("viewer")).json()
    expect(page.locator("tr[data-rule]")).to_have_count(len(rules))
    expect(page.locator('tr[data-rule="slow"]')).to_be_visible()


def test_a_viewer_cannot_open_the_audit_log(page: Page, rolled_up: Console) -> None:
    sign_in(page, rolled_up, rolled_up.acme.keys["viewer"], "/ui/monitoring")
    expect(page.get_by_role("link", name="Audit")).to_have_count(0)
    page.goto(rolled_up.url + "/ui/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_another_tenants_endpoint_is_not_found(page: Page, rolled_up: Console) -> None:
    sign_in(page, rolled_up, rolled_up.globex.keys["admin"], "/ui/monitoring/fraud")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")

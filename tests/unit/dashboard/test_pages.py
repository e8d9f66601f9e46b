"""What the deployment page shows, against the API: shadow counters, a canary's verdict."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.api import Api, role_keys
from tests.support.console import browser, canary_on_fraud
from tests.support.deployments import RECORD, deploy, two_versions, variant


def cells(html: str, row: str) -> dict[str, str]:
    """The data-field cells of the table row marked ``row`` (e.g. 'data-shadow="x"')."""
    found = re.search(rf"<tr {row}>(.*?)</tr>", html, re.S)
    assert found is not None, html
    return dict(re.findall(r'data-field="([a-z]+)">([^<]*)<', found.group(1)))


def test_the_shadow_counters_shown_are_the_apis(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings())
    tenant_id, keys = role_keys(services)
    with TestClient(create_app(services)) as client:  # its event loop runs the shadow worker
        api = Api(client, services, tenant_id, keys)
        two_versions(api)
        body = {"variants": [variant("main", 1, 100), variant("shadow", 2, shadow=True)]}
        assert deploy(api, "checkout", body).status_code == 200
        for _ in range(3):
            assert (
                client.post("/v1/predict/checkout", json=RECORD, headers=api.headers()).status_code
                == 200
            )

        def counted() -> dict[str, int]:
            answer = client.get("/v1/endpoints/checkout/deployment", headers=api.headers())
            return answer.json()["shadow"]["shadow"]

        deadline = time.monotonic() + 10
        while counted()["agreed"] + counted()["disagreed"] < 3:
            assert time.monotonic() < deadline, counted()
            time.sleep(0.05)
        page = browser(api, "viewer").get("/ui/deployments/checkout").text
        assert cells(page, 'data-shadow="shadow"') == {k: str(v) for k, v in counted().items()}
        assert counted()["disagreed"] == 3  # version 2 answers the opposite of version 1
    services.close()


def test_a_canarys_page_shows_the_controllers_verdict_now(api: Api) -> None:
    canary_on_fraud(api)
    page = browser(api, "viewer").get("/ui/deployments/fraud").text
    assert "The controller would <strong>hold</strong>: at 10% for" in page
    assert '<strong aria-current="step">10%</strong>' in page


def test_a_log_file_that_cannot_be_read_is_said_where_its_numbers_would_be(api: Api) -> None:
    canary_on_fraud(api)
    assert (
        api.client.post("/v1/predict/fraud", json=RECORD, headers=api.headers()).status_code == 200
    )
    api.services.prediction_log.flush()
    now = datetime.now(UTC)
    [part] = api.services.prediction_log.window_files(
        api.tenant_id, "fraud", now - timedelta(hours=1), now + timedelta(minutes=1)
    )
    Path(part).write_bytes(b"not parquet at all")
    client = browser(api, "viewer")
    page = client.get("/ui/")
    assert page.status_code == 200 and 'data-endpoint="fraud"' in page.text
    assert "the prediction log unavailable" in page.text
    deployment = client.get("/ui/deployments/fraud")
    assert deployment.status_code == 200
    assert "could not be read (InvalidInputException)" in deployment.text

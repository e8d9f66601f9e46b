"""The monitoring page: traffic charts from the rollups, each part from its service, a
viewer allowed to look, another tenant's endpoint a 404."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from ailayer.monitoring.log.rollup import LogRollup
from ailayer.rollout.policy import Variant
from tests.support.api import make_api
from tests.support.console_client import sign_in
from tests.support.variant_traffic import log_request as log

STABLE = Variant("stable", "fraud", 1, 100)


def test_monitoring_shows_the_rollup_traffic_and_refuses_other_tenants(services) -> None:  # type: ignore[no-untyped-def]
    api = make_api(services)
    other = make_api(services, "globex")
    now = datetime.now(UTC)
    for i in range(3):
        log(services, api.tenant_id, STABLE, now - timedelta(minutes=10 + i), 5.0 + i)
    log(services, other.tenant_id, STABLE, now - timedelta(minutes=10), 5.0, endpoint="secret")
    services.prediction_log.flush()
    LogRollup(services.db, services.offline.tenant_root, grace=timedelta(0)).run_once(
        now + timedelta(seconds=1)
    )
    sign_in(api.client, api.keys["viewer"])

    index = api.client.get("/ui/monitoring")
    assert index.status_code == 200
    assert re.search(r'data-metric="requests-day">3<', index.text)
    assert "secret" not in index.text

    page = api.client.get("/ui/monitoring/fraud")
    assert page.status_code == 200, page.text
    figures = re.findall(r"<figure class=\"chart\">.*?</figure>", page.text, re.S)
    assert len(figures) >= 3
    for figure in figures:
        ET.fromstring(figure)  # every chart is well-formed
    assert "Requests per half hour" in page.text

    assert api.client.get("/ui/monitoring/secret").status_code == 404

"""The HTML report: self-contained, a chart per feature, tenant data escaped; and the
drift, report and reference routes of the API."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pytest

from ailayer.monitoring import ranking
from ailayer.monitoring.drift import profile
from ailayer.monitoring.endpoint.report import charts, endpoint_report
from ailayer.monitoring.log import Entry
from tests.support.drift_scenario import EVIL, SIGNATURE, rows
from tests.support.log_records import target
from tests.support.prediction_log import id_at
from tests.support.ranking_log import N, log_ab, recommendation


class Elements(HTMLParser):
    """Counts start tags and collects text, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def feature_cards(page: str) -> int:
    return len(re.findall(r'<div class="card(?: drifted)?"><h3>', page))


def report_of(api, endpoint: str, *window: datetime) -> str:  # type: ignore[no-untyped-def]
    services = api.services
    return endpoint_report(
        services.drift, services.performance, services.ranking, api.tenant_id, endpoint, *window
    )


def recommender(api) -> None:  # type: ignore[no-untyped-def]
    """Versions 1 and 2 of ``fraud`` in the registry, for the versions ``log_ab`` logs
    recommendations of (the drift part of the page reads the registry)."""
    for _ in range(2):
        assert api.register("fraud").status_code == 201


def ranking_section(page: str) -> str:
    """The Ranking section's HTML ("" when the page has none)."""
    found = re.search(r"<section><h2>Ranking</h2>.*?</section>", page, re.S)
    return found.group(0) if found else ""


def test_the_report_has_a_chart_per_feature_and_escapes_names(api, live) -> None:  # type: ignore[no-untyped-def]
    page = report_of(api, "shop")
    parsed = parse(page)
    features = len(SIGNATURE["inputs"])
    # one chart per feature, one for the score, four metric charts
    assert parsed.tags.count("svg") == features + 1 + 4
    assert feature_cards(page) == features + 1 + 4
    assert parsed.tags.count("script") == 0  # the feature name stayed text
    assert EVIL in "".join(parsed.text)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count('class="card drifted"') == 2 + 1  # amount, plan and the score
    assert not re.search(r"(src|href)=\"?https?:", page)  # nothing fetched when opened
    assert "Ranking" not in page  # a classifier's report has no ranking section


def test_a_recommenders_report_shows_the_ranking_metrics(api) -> None:  # type: ignore[no-untyped-def]
    recommender(api)
    now = datetime.now(UTC)
    world = log_ab(api.services, api.tenant_id, now)
    window = now - timedelta(hours=2), now + timedelta(seconds=1)
    section = ranking_section(report_of(api, "fraud", *window))
    assert section and "at k = 10" in section
    table = re.findall(r"<tr><td>(fraud v\d)</td>(.*?)</tr>", section)
    assert [name for name, _ in table] == ["fraud v1", "fraud v2"]
    for (_, cells), name in zip(table, "ab", strict=True):
        labelled = world["rows"][name]
        expected = {
            **ranking.summary(labelled, 10),
            "coverage@10": ranking.coverage(world["shown"][name], 10, 20),  # 20 items seen
        }
        shown = dict(re.findall(r'data-metric="([a-z]+@10)">([^<]+)<', cells))
        assert set(shown) == {"ndcg@10", "precision@10", "recall@10", "coverage@10"}
        for metric, value in shown.items():
            assert float(value) == pytest.approx(expected[metric], abs=5e-5), metric
        counts = [int(c.replace(",", "")) for c in re.findall(r"<td class='num'>([\d,]+)<", cells)]
        relevant = sum(1 for _, graded in labelled if graded)
        distinct = len({i for items in world["shown"][name] for i in items[:10]})
        assert counts == [N // 2, len(labelled), relevant, distinct]
    # NDCG@10 per hour: one point per version and window, the route's per-window values
    found = api.services.ranking.report(api.tenant_id, "fraud", 10, "hour", *window)
    expected_points = sorted(
        f"fraud v{w['version']} {w['window_start']:%Y-%m-%d %H:%M} {w['ndcg@10']:.4g}"
        for w in found["windows"]
    )
    assert sorted(re.findall(r"<circle [^>]*><title>([^<]+)</title>", section)) == expected_points
    assert parse(section).tags.count("svg") == 1
    assert not re.search(r"(src|href)=\"?https?:", section)


def test_a_recommender_without_feedback_gets_a_sentence(api) -> None:  # type: ignore[no-untyped-def]
    recommender(api)
    now = datetime.now(UTC)
    item = {
        "prediction_id": id_at(now - timedelta(minutes=1)),
        "prediction": recommendation([3, 4]),
    }
    when = int((now - timedelta(minutes=1)).timestamp() * 1e9)
    api.services.prediction_log.buffer.put(Entry(api.tenant_id, target(), when, 1.0, [{}], [item]))
    api.services.prediction_log.flush()
    section = ranking_section(report_of(api, "fraud", now - timedelta(hours=1), now))
    assert (
        "No feedback yet: no clicks or purchases have been posted for the 1 recommendation in"
        in section
    )
    assert "<svg" not in section and section.count('data-metric="ndcg@10">n/a<') == 1
    assert 'data-metric="coverage@10">1<' in section  # both items seen were shown


def test_a_recommender_window_too_large_to_judge_is_said(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    recommender(api)
    now = datetime.now(UTC)
    log_ab(api.services, api.tenant_id, now)
    monkeypatch.setattr("ailayer.monitoring.endpoint.ranking.MAX_ROWS", N - 1)
    section = ranking_section(report_of(api, "fraud", now - timedelta(hours=2), now))
    assert "narrow it" in section and "<table>" not in section


def test_an_empty_window_still_renders(api, live) -> None:  # type: ignore[no-untyped-def]
    end = datetime.now(UTC) - timedelta(days=3)
    page = report_of(api, "shop", end - timedelta(hours=2), end)
    assert "no predictions of shop v1 in the window" in page
    assert "no values in this period" in page


def test_charts_escape_categories_and_draw_shares() -> None:
    reference = profile({"plan": ["<b>", "a", "a", "b"]}).features["plan"]
    current = profile({"plan": ["a", "<b>", "<b>", "<b>"]}).features["plan"]
    svg = charts.categories(reference, current)
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert svg.count("<rect") == 3 * 2 + 2  # two bars per category, two legend swatches
    numbers = profile({"x": np.arange(100.0)})
    hist = charts.histogram(numbers.features["x"], numbers.features["x"])
    heights = [
        float(h) for h in re.findall(r'height="([0-9.]+)" fill="#4c78a8" fill-opacity', hist)
    ]
    assert len(heights) == charts.HISTOGRAM_BINS and max(heights) > 0


def test_drift_route_json(api, live) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/monitoring/shop/drift", headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    [item] = response.json()["versions"]
    assert item["report"]["drifted_features"] == ["amount", "plan"]
    assert api.client.get("/v1/monitoring/nope/drift", headers=api.headers()).status_code == 404
    denied = api.client.get("/v1/monitoring/shop/drift", headers=api.headers("service"))
    assert denied.status_code == 403
    bad = api.client.get(
        "/v1/monitoring/shop/drift", headers=api.headers(), params={"reference_start": "2099-01-01"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reference_start"


def test_report_route_html(api, live) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/monitoring/shop/report", headers=api.headers("viewer"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # a chart per feature, the score, four metrics, and the version's lineage graph
    assert parse(response.text).tags.count("svg") == len(SIGNATURE["inputs"]) + 1 + 4 + 1
    assert '<svg class="lineage"' in response.text


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_reference_upload_route(api, shop, fmt: str) -> None:  # type: ignore[no-untyped-def]
    frame = rows(300, seed=6)
    buffer = io.BytesIO()
    if fmt == "parquet":
        frame.to_parquet(buffer)
    elif fmt == "csv":
        frame.to_csv(buffer, index=False)
    else:
        buffer.write(frame.to_json(orient="records").encode())
    response = api.client.post(
        "/v1/models/shop/versions/1/reference",
        headers=api.headers("developer"),
        files={"file": (f"reference.{fmt}", buffer.getvalue())},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"] == 300 and body["source"] == "upload" and body["score"] is True
    assert body["features"]["plan"] == "categorical" and body["features"]["amount"] == "numeric"
    stored = api.services.drift.references.stored(api.tenant_id, "shop", 1)
    assert stored is not None and stored.profile.features["mobile"].counts.keys() == {
        "True",
        "False",
    }


def test_reference_upload_errors(api, shop) -> None:  # type: ignore[no-untyped-def]
    url = "/v1/models/shop/versions/1/reference"
    lacking = rows(50, seed=6).drop(columns=["age"]).to_csv(index=False).encode()
    response = api.client.post(url, headers=api.headers(), files={"file": ("ref.csv", lacking)})
    assert response.status_code == 422 and response.json()["error"]["field"] == "age"
    garbage = api.client.post(url, headers=api.headers(), files={"file": ("ref.json", b"{nope")})
    assert garbage.status_code == 422 and "not valid json" in garbage.json()["error"]["message"]
    viewer = api.client.post(
        url, headers=api.headers("viewer"), files={"file": ("ref.csv", lacking)}
    )
    assert viewer.status_code == 403
    missing = api.client.post(
        "/v1/models/shop/versions/9/reference",
        headers=api.headers(),
        files={"file": ("ref.csv", rows(50, seed=6).to_csv(index=False).encode())},
    )
    assert missing.status_code == 404
    assert api.services.drift.references.stored(api.tenant_id, "shop", 1) is None


def test_sdk_drift(api, live) -> None:  # type: ignore[no-untyped-def]
    from ailayer.api import create_app
    from ailayer.sdk import Client
    from tests.support.services import live_server

    with live_server(create_app(api.services)) as url, Client(url, api.keys["viewer"]) as client:
        [item] = client.drift("shop")["versions"]
        assert item["report"]["drifted_features"] == ["amount", "plan"]
        past = datetime.now(UTC) - timedelta(days=5)
        [empty] = client.drift("shop", past - timedelta(hours=1), past)["versions"]
        assert empty["rows"] == 0

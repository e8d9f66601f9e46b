"""The console's SVG charts: well-formed, accessible, scaled right, and safe on any number."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(html: str) -> ET.Element:
    figure = ET.fromstring(html)  # raises on anything that is not well-formed
    assert figure.tag == "figure"
    return figure


def svg_of(figure: ET.Element) -> ET.Element:
    svg = figure.find(f"{SVG}svg")
    assert svg is not None and svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and desc is not None and title.text and desc.text
    labelled = svg.get("aria-labelledby", "").split()
    assert labelled == [title.get("id"), desc.get("id")]
    return svg


def table_rows(figure: ET.Element) -> list[list[str]]:
    return [
        [td.text or "" for td in tr.findall("td")]
        for tr in figure.iter("tr")
        if tr.find("td") is not None
    ]


def polyline_points(svg: ET.Element) -> list[tuple[float, float]]:
    points = []
    for line in svg.iter(f"{SVG}polyline"):
        points += [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
    return points


T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_line_chart_scales_values_to_the_plot_and_marks_the_reference() -> None:
    points = [(T0 + timedelta(hours=i), float(v)) for i, v in enumerate([0, 5, 10])]
    figure = parse(charts.line_chart({"accuracy": points}, title="Accuracy", reference=7.5))
    svg = svg_of(figure)
    drawn = polyline_points(svg)
    assert [x for x, _ in drawn] == [
        charts.LEFT,
        (charts.LEFT + charts.WIDTH - charts.RIGHT) / 2,
        charts.WIDTH - charts.RIGHT,
    ]
    bottom, top = charts.HEIGHT - charts.BOTTOM, charts.TOP
    assert [y for _, y in drawn] == pytest.approx([bottom, (bottom + top) / 2, top], abs=0.06)
    dashed = [ln for ln in svg.iter(f"{SVG}line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 1 and float(dashed[0].get("y1")) == pytest.approx(
        bottom + 0.75 * (top - bottom), abs=0.06
    )
    rows = table_rows(figure)
    assert rows[0] == ["accuracy", "2026-12-01 00:00", "0"] and rows[-1] == ["training", "", "7.5"]


def test_a_missing_value_breaks_the_line() -> None:
    points = [(1, 1.0), (2, 2.0), (3, None), (4, 4.0), (5, 5.0)]
    svg = svg_of(parse(charts.line_chart({"s": points}, title="t")))
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2


def test_bars_are_proportional_and_grouped() -> None:
    figure = parse(
        charts.bar_chart(["a", "b"], {"rate": [0.25, 1.0], "tpr": [0.5, None]}, title="Fairness")
    )
    rects = [r for r in svg_of(figure).iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(rects) == 3  # the missing value draws nothing
    heights = [float(r.get("height")) for r in rects]
    assert heights[0] * 4 == pytest.approx(heights[2], rel=0.01)
    assert heights[1] * 2 == pytest.approx(heights[2], rel=0.01)
    assert table_rows(figure) == [["a", "0.25", "0.5"], ["b", "1", "none"]]


def test_histograms_draw_shares_of_each_total() -> None:
    figure = parse(charts.histograms([0, 1, 2], [10, 30], [1, 1], title="amount"))
    rects = [r for r in svg_of(figure).iter(f"{SVG}rect") if r.get("fill-opacity")]
    plot = charts.HEIGHT - charts.BOTTOM - charts.TOP
    heights = [float(r.get("height")) for r in rects]
    top = 0.75  # the largest share sets the scale
    assert heights == pytest.approx(
        [plot * 0.25 / top, plot, plot * 0.5 / top, plot * 0.5 / top], abs=0.06
    )
    assert table_rows(figure) == [["0 to 1", "10", "1"], ["1 to 2", "30", "1"]]


def test_sparkline_is_small_and_describes_its_range() -> None:
    figure = parse(charts.sparkline([1, 3, 2], title="requests"))
    svg = svg_of(figure)
    assert svg.get("width") == str(charts.SPARK_WIDTH)
    assert "1 to 3" in svg.find(f"{SVG}desc").text


@pytest.mark.parametrize(
    "html",
    [
        charts.line_chart({}, title="t"),
        charts.line_chart({"s": [(1, None), (2, math.nan)]}, title="t"),
        charts.bar_chart([], {}, title="t"),
        charts.bar_chart(["a"], {"x": [None]}, title="t"),
        charts.histograms([], [], [], title="t"),
        charts.histograms([0, 1], [0], [0], title="t"),
        charts.sparkline([], title="t"),
    ],
)
def test_nothing_to_draw_says_no_data(html: str) -> None:
    figure = parse(html)
    assert "no data" in svg_of(figure).find(f"{SVG}desc").text


def test_extreme_and_non_finite_values_neither_crash_nor_escape_the_plot() -> None:
    big = 1.7976931348623157e308
    values = [(1, -big), (2, big), (3, math.inf), (4, -math.inf), (5, math.nan), (6, 5e-324)]
    for html in (
        charts.line_chart({"s": values}, title="t", reference=math.nan),
        charts.bar_chart(["a", "b", "c", "d"], {"s": [-big, big, math.inf, math.nan]}, title="t"),
        charts.histograms([-big, 0, big], [big, big], [math.inf, 1], title="t"),
        charts.sparkline([v for _, v in values], title="t"),
    ):
        svg = svg_of(parse(html))
        for element in svg.iter():
            for name in ("x", "y", "x1", "y1", "height", "width", "cx", "cy"):
                if element.get(name) is not None:
                    assert math.isfinite(float(element.get(name)))
        for x, y in polyline_points(svg):
            assert 0 <= x <= charts.WIDTH and 0 <= y <= charts.HEIGHT
    rows = table_rows(parse(charts.line_chart({"s": values}, title="t")))
    assert [r[2] for r in rows[2:5]] == ["∞", "-∞", "NaN"]


def test_text_is_escaped() -> None:
    name = '<script>alert("x")</script>&'
    for html in (
        charts.line_chart({name: [(1, 1.0)]}, title=name, reference_label=name, reference=1.0),
        charts.bar_chart([name], {name: [1.0]}, title=name),
        charts.histograms([0, 1], [1], [1], title=name, names=(name, name)),
        charts.sparkline([1.0], title=name),
    ):
        assert "<script>" not in html
        figure = parse(html)
        assert svg_of(figure).find(f"{SVG}title").text == name

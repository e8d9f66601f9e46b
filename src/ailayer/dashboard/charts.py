"""The console's charts: small inline SVG, drawn on the server, no script and no network.

Every function takes plain numbers (already aggregated: the console never draws raw log
rows) and returns one ``<figure>`` holding an ``<svg role="img">`` with a ``<title>`` and
a ``<desc>`` (what a screen reader announces), and the same numbers as a small table in a
``<details>`` element, for anyone who reads rather than looks. All text is escaped, so a
feature or group name can hold anything. Values that are missing (``None``), not a number
or infinite are left out of the drawing and shown as such in the table; finite values up
to ±1.8e308 are scaled without overflow (differences are taken on halves). A chart with
nothing to draw says so instead.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 30, 36
SPARK_WIDTH, SPARK_HEIGHT = 120, 28
COLORS = ("#1f5f99", "#b3590b", "#2f7d32", "#b02a37", "#5a4a9e", "#0b6e6e")
REFERENCE_COLOR = "#555555"
NO_DATA = "no data"

X = datetime | float | int


def line_chart(
    series: Mapping[str, Sequence[tuple[X, float | None]]],
    *,
    title: str,
    unit: str = "",
    reference: float | None = None,
    reference_label: str = "training",
) -> str:
    """One line per series over time (x: datetimes or numbers); a missing value breaks
    the line. ``reference``, e.g. the metric measured at training time, is drawn as a
    dashed horizontal line and listed in the table."""
    drawn = {
        name: [(_x(x), v) for x, v in points if _finite(v) and _finite(_x(x))]
        for name, points in series.items()
    }
    xs = [x for points in drawn.values() for x, _ in points]
    ys = [v for points in drawn.values() for _, v in points]
    if _finite(reference):
        ys.append(float(reference))  # type: ignore[arg-type]
    table = _table(
        ["series", "time", f"value{_unit(unit)}"],
        [[name, _x_text(x), _number(v)] for name, points in series.items() for x, v in points]
        + ([[reference_label, "", _number(reference)]] if reference is not None else []),
    )
    if not xs:
        return _figure(title, f"{title}: {NO_DATA}", _empty(title), table)
    timed = any(isinstance(x, datetime) for points in series.values() for x, _ in points)
    at = _time_text if timed else _number
    sx, sy = (
        _scale(min(xs), max(xs), LEFT, WIDTH - RIGHT),
        _scale(min(ys), max(ys), HEIGHT - BOTTOM, TOP),
    )
    parts = _axes(_number(min(ys)), _number(max(ys)), at(min(xs)), at(max(xs)))
    for index, name in enumerate(drawn):
        color = COLORS[index % len(COLORS)]
        parts += _polylines(series[name], sx, sy, color)
        parts.append(_legend(index, name, color))
    if _finite(reference):
        y = sy(float(reference))  # type: ignore[arg-type]
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{REFERENCE_COLOR}" stroke-dasharray="5 4" stroke-width="1.5"/>'
            f'<text x="{WIDTH - RIGHT}" y="{max(y - 4, 10):.1f}" text-anchor="end" '
            f'font-size="11" fill="{REFERENCE_COLOR}">'
            f"{escape(reference_label)} {escape(_number(reference))}</text>"
        )
    desc = (
        f"{title}: {len(drawn)} series over {at(min(xs))} to {at(max(xs))}, "
        f"values {_number(min(ys))} to {_number(max(ys))}{_unit(unit)}"
        + (f"; {reference_label} {_number(reference)}" if reference is not None else "")
    )
    return _figure(title, desc, _svg(title, desc, parts), table)


def bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    unit: str = "",
) -> str:
    """Grouped vertical bars: one group per name in ``groups`` (e.g. a fairness group or
    a feature), one bar per series in each (e.g. selection rate and true positive rate).
    Bars start at zero; negative values hang below it."""
    names = list(series)
    values = [v for name in names for v in series[name][: len(groups)] if _finite(v)]
    table = _table(
        ["group", *[f"{n}{_unit(unit)}" for n in names]],
        [[g, *[_number(_at(series[n], i)) for n in names]] for i, g in enumerate(groups)],
    )
    if not groups or not values:
        return _figure(title, f"{title}: {NO_DATA}", _empty(title), table)
    low, high = min(0.0, *values), max(0.0, *values)
    sy = _scale(low, high, HEIGHT - BOTTOM, TOP)
    zero = sy(0.0)
    slot = (WIDTH - LEFT - RIGHT) / len(groups)
    bar = max(slot * 0.8 / max(len(names), 1), 1.0)
    parts = _axes(_number(low), _number(high), "", "")
    for g, group in enumerate(groups):
        x0 = LEFT + g * slot + slot * 0.1
        for s, name in enumerate(names):
            value = _at(series[name], g)
            if not _finite(value):
                continue
            y = sy(float(value))  # type: ignore[arg-type]
            top, height = min(y, zero), abs(zero - y)
            parts.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                f'height="{max(height, 0.5):.1f}" fill="{COLORS[s % len(COLORS)]}">'
                f"<title>{escape(group)}, {escape(name)}: "
                f"{escape(_number(value))}{escape(_unit(unit))}</title></rect>"
            )
        label = group if len(group) <= 14 else group[:13] + "…"
        parts.append(
            f'<text x="{LEFT + (g + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 14}" '
            f'text-anchor="middle" font-size="11">{escape(label)}</text>'
        )
    if len(names) > 1:
        parts += [_legend(i, n, COLORS[i % len(COLORS)]) for i, n in enumerate(names)]
    desc = (
        f"{title}: {len(groups)} groups, {', '.join(names)}; values "
        f"{_number(min(values))} to {_number(max(values))}{_unit(unit)}"
    )
    return _figure(title, desc, _svg(title, desc, parts), table)


def histograms(
    edges: Sequence[float],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str,
    names: tuple[str, str] = ("reference", "current"),
) -> str:
    """Two overlaid histograms on the same bins (``len(edges) - 1`` counts each), drawn
    as shares of their own totals so windows of different sizes compare."""
    bins = max(len(edges) - 1, 0)
    ref, cur = _shares(reference, bins), _shares(current, bins)
    rows = [
        [
            f"{_number(edges[i])} to {_number(edges[i + 1])}",
            _number(_at(reference, i)),
            _number(_at(current, i)),
        ]
        for i in range(bins)
    ]
    table = _table(["bin", f"{names[0]} count", f"{names[1]} count"], rows)
    if not bins or (ref is None and cur is None):
        return _figure(title, f"{title}: {NO_DATA}", _empty(title), table)
    top = max(max(s) for s in (ref, cur) if s is not None) or 1.0
    sy = _scale(0.0, top, HEIGHT - BOTTOM, TOP)
    slot = (WIDTH - LEFT - RIGHT) / bins
    parts = _axes("0%", f"{top:.0%}", _number(edges[0]), _number(edges[-1]))
    for index, shares in enumerate((ref, cur)):
        if shares is None:
            continue
        color, opacity = COLORS[index], "0.45" if index else "0.6"
        for i, share in enumerate(shares):
            y = sy(share)
            parts.append(
                f'<rect x="{LEFT + i * slot:.1f}" y="{y:.1f}" width="{max(slot - 1, 0.5):.1f}" '
                f'height="{max(HEIGHT - BOTTOM - y, 0):.1f}" fill="{color}" '
                f'fill-opacity="{opacity}"/>'
            )
        parts.append(_legend(index, names[index], color))
    desc = f"{title}: share of rows per bin, {names[0]} against {names[1]}, {bins} bins"
    return _figure(title, desc, _svg(title, desc, parts), table)


def sparkline(values: Sequence[float | None], *, title: str, unit: str = "") -> str:
    """A word-sized line of the last values (e.g. requests per hour in a table cell)."""
    finite = [float(v) for v in values if _finite(v)]  # type: ignore[arg-type]
    table = _table(
        ["#", f"value{_unit(unit)}"], [[str(i + 1), _number(v)] for i, v in enumerate(values)]
    )
    if not finite:
        return _figure(title, f"{title}: {NO_DATA}", _empty(title, spark=True), table, "spark")
    sx = _scale(0, max(len(values) - 1, 1), 1, SPARK_WIDTH - 1)
    sy = _scale(min(finite), max(finite), SPARK_HEIGHT - 2, 2)
    parts = _polylines(list(enumerate(values)), sx, sy, COLORS[0])
    desc = (
        f"{title}: {len(values)} values from {_number(min(finite))} to "
        f"{_number(max(finite))}{_unit(unit)}, last {_number(values[-1])}"
    )
    svg = _svg(title, desc, parts, SPARK_WIDTH, SPARK_HEIGHT)
    return _figure(title, desc, svg, table, "spark")


# -- pieces -------------------------------------------------------------------------------


def _figure(title: str, desc: str, svg: str, table: str, kind: str = "chart") -> str:
    return (
        f'<figure class="{kind}">{svg}<details><summary>'
        f"{escape(title)}: the numbers</summary>{table}</details></figure>"
    )


def _svg(title: str, desc: str, parts: list[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    ident = "c" + secrets.token_hex(6)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
        + "".join(parts)
        + "</svg>"
    )


def _empty(title: str, spark: bool = False) -> str:
    width, height = (SPARK_WIDTH, SPARK_HEIGHT) if spark else (WIDTH, 60)
    text = (
        f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="12" '
        f'fill="#555555">{NO_DATA}</text>'
    )
    return _svg(title, f"{title}: {NO_DATA}", [text], width, height)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(header)}">{NO_DATA}</td></tr>'
    return f'<table class="chart-data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _axes(low: str, high: str, first: str, last: str) -> list[str]:
    bottom = HEIGHT - BOTTOM
    return [
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="#767676"/>',
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#767676"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end" font-size="11">{escape(high)}</text>',
        f'<text x="{LEFT - 4}" y="{bottom}" text-anchor="end" font-size="11">{escape(low)}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="11">{escape(first)}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" font-size="11">'
        f"{escape(last)}</text>",
    ]


def _legend(index: int, name: str, color: str) -> str:
    """A key above the plot, three to a row (long names are cut; the table has them whole)."""
    x = LEFT + (index % 3) * 165
    y = 4 + (index // 3) * 13
    label = name if len(name) <= 24 else name[:23] + "…"
    return (
        f'<rect x="{x}" y="{y}" width="10" height="10" fill="{color}"/>'
        f'<text x="{x + 14}" y="{y + 9}" font-size="11">{escape(label)}</text>'
    )


def _polylines(points: Sequence[tuple], sx, sy, color: str) -> list[str]:  # type: ignore[no-untyped-def]
    """One polyline per unbroken run of finite values (a lone point is a dot)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, value in points:
        x = _x(x)
        if _finite(value) and _finite(x):
            runs[-1].append((sx(x), sy(float(value))))
        elif runs[-1]:
            runs.append([])
    drawn = []
    for run in runs:
        if len(run) == 1:
            ((x, y),) = run
            drawn.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        elif run:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            drawn.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
    return drawn


def _scale(low: float, high: float, out_low: float, out_high: float):  # type: ignore[no-untyped-def]
    """``value`` in [low, high] → [out_low, out_high], on halves so no finite span
    overflows; a single value lands in the middle."""
    half_low, half_span = low / 2, high / 2 - low / 2

    def scale(value: float) -> float:
        if half_span <= 0:
            return (out_low + out_high) / 2
        fraction = min(max((value / 2 - half_low) / half_span, 0.0), 1.0)
        return out_low + fraction * (out_high - out_low)

    return scale


def _shares(counts: Sequence[float], bins: int) -> list[float] | None:
    values = [float(c) if _finite(c) and c > 0 else 0.0 for c in list(counts)[:bins]]  # type: ignore[operator]
    values += [0.0] * (bins - len(values))
    total = math.fsum(v / 2 for v in values)
    if not total > 0 or not math.isfinite(total):
        return None
    return [(v / 2) / total for v in values]


def _at(values: Sequence[float | None], index: int) -> float | None:
    return values[index] if index < len(values) else None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _x(value: X) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _x_text(value: X) -> str:
    if isinstance(value, datetime):
        return _time_text(_x(value))
    return _number(value)


def _time_text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def _number(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _unit(unit: str) -> str:
    return f" ({unit})" if unit else ""
